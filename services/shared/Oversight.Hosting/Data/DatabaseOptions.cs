namespace Oversight.Hosting.Data;

public enum DatabaseProvider
{
    /// <summary>A file under the data folder: the embedded default.</summary>
    Sqlite,
    Postgres,
}

/// <summary>One service's database. Section "Oversight:{Service}:Database".</summary>
public sealed class DatabaseOptions
{
    public DatabaseProvider Provider { get; set; } = DatabaseProvider.Sqlite;

    /// <summary>
    /// ADO.NET connection string. For SQLite it defaults to a file named after the service
    /// in the data folder; for PostgreSQL it is required.
    /// </summary>
    public string? ConnectionString { get; set; }

    /// <summary>
    /// Apply pending migrations when the host starts. The Helm chart turns this off on
    /// service pods and runs migrations once in a Job instead.
    /// </summary>
    public bool MigrateOnStart { get; set; } = true;
}
