using System.Text.Json;
using Npgsql;
using Oversight.Testing;
using StackExchange.Redis;

namespace Oversight.Enforcement.Tests.Infrastructure;

/// <summary>An outbox row as stored: what a service committed to publish.</summary>
public sealed record OutboxRow(Guid Id, string MessageType, string Payload, DateTimeOffset? PublishedAt)
{
    public JsonElement Json => JsonDocument.Parse(Payload).RootElement;
}

/// <summary>Direct reads of the deployment's databases and Redis, for assertions on stored state.</summary>
public static class Stores
{
    /// <summary>Outbox rows of one event type whose payload mentions <paramref name="mentions"/> (e.g. an account id).</summary>
    public static async Task<List<OutboxRow>> OutboxAsync(string database, string eventName, string? mentions = null)
    {
        await using var connection = new NpgsqlConnection(database);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(
            "SELECT \"Id\", \"MessageType\", \"Payload\", \"PublishedAt\" FROM outbox_messages WHERE \"MessageType\" = @type AND (@mentions = '' OR \"Payload\" LIKE @pattern) ORDER BY \"Sequence\"",
            connection);
        command.Parameters.AddWithValue("type", "Oversight.Contracts." + eventName);
        command.Parameters.AddWithValue("mentions", mentions ?? "");
        command.Parameters.AddWithValue("pattern", "%" + (mentions ?? "") + "%");
        var rows = new List<OutboxRow>();
        await using var reader = await command.ExecuteReaderAsync();
        while (await reader.ReadAsync())
        {
            rows.Add(new OutboxRow(reader.GetGuid(0), reader.GetString(1), reader.GetString(2),
                reader.IsDBNull(3) ? null : reader.GetFieldValue<DateTimeOffset>(3)));
        }

        return rows;
    }

    /// <summary>As if the publisher had crashed before marking the rows: they go through the broker again.</summary>
    public static async Task RepublishAsync(string database, string mentions)
    {
        await using var connection = new NpgsqlConnection(database);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand("UPDATE outbox_messages SET \"PublishedAt\" = NULL WHERE \"Payload\" LIKE @pattern", connection);
        command.Parameters.AddWithValue("pattern", "%" + mentions + "%");
        Assert.True(await command.ExecuteNonQueryAsync() > 0, $"no outbox row mentions {mentions}");
    }

    /// <summary>Runs one statement on a service's database; returns the rows it changed.</summary>
    public static async Task<int> ExecuteAsync(string database, string sql, params (string Name, object Value)[] parameters)
    {
        await using var connection = new NpgsqlConnection(database);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(sql, connection);
        foreach (var (name, value) in parameters)
        {
            command.Parameters.AddWithValue(name, value);
        }

        return await command.ExecuteNonQueryAsync();
    }

    /// <summary>
    /// Everything a request could change for one marketplace: rows of every table of the
    /// enforcement database that mention it, and its Redis keys with their values (other tests
    /// on the same deployment use other marketplaces).
    /// </summary>
    public static async Task<string> MarketplaceStateAsync(EnforcementDeployment deployment, string marketplace)
    {
        var all = await StateSnapshot.CaptureAsync([deployment.EnforcementDatabase], deployment.EnforcementRedis, $"ovs:{{{marketplace}:*");
        return string.Join('\n', all.Split('\n').Where(line => line.StartsWith("table ", StringComparison.Ordinal) || line.Contains(marketplace, StringComparison.Ordinal)));
    }

    /// <summary>The keys of a tag (<c>ovs:{marketplace:root}:*</c>).</summary>
    public static async Task<List<string>> TagKeysAsync(string redis, string marketplace, string root)
    {
        await using var connection = await ConnectionMultiplexer.ConnectAsync(redis);
        var server = connection.GetServers()[0];
        return server.Keys(pattern: $"ovs:{{{marketplace}:{root}}}:*").Select(k => k.ToString()).Order(StringComparer.Ordinal).ToList();
    }

    /// <summary>Deletes every key of a tag, as if that shard had lost its data.</summary>
    public static async Task FlushTagAsync(string redis, string marketplace, string root)
    {
        var keys = await TagKeysAsync(redis, marketplace, root);
        await using var connection = await ConnectionMultiplexer.ConnectAsync(redis);
        await connection.GetDatabase().KeyDeleteAsync(keys.Select(k => (RedisKey)k).ToArray());
        Assert.Empty(await TagKeysAsync(redis, marketplace, root));
    }
}
