namespace Oversight.Testing;

/// <summary>The checkout the tests run from: the folder above the test binaries that holds Oversight.sln.</summary>
public static class Repository
{
    private static readonly Lazy<string> Found = new(() => RootAbove(new DirectoryInfo(AppContext.BaseDirectory)));

    public static string Root => Found.Value;

    public static string Path(params string[] parts) => System.IO.Path.Combine([Root, .. parts]);

    public static string RootAbove(DirectoryInfo start)
    {
        for (var dir = start; dir is not null; dir = dir.Parent)
        {
            if (File.Exists(System.IO.Path.Combine(dir.FullName, "Oversight.sln")))
            {
                return dir.FullName;
            }
        }

        throw new InvalidOperationException("Oversight.sln not found above " + start.FullName);
    }
}
