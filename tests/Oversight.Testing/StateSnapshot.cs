using System.Text;
using Npgsql;
using StackExchange.Redis;

namespace Oversight.Testing;

/// <summary>
/// Everything a request could have changed, captured so that a test can assert that a
/// refused request changed nothing: every table of each PostgreSQL database (found through
/// information_schema, not a hand-made list; the outbox table is where the bus begins) and
/// every Redis key matching a pattern, with its value.
/// </summary>
public static class StateSnapshot
{
    public static async Task<string> CaptureAsync(IEnumerable<string> postgresConnectionStrings, string? redisConfiguration = null, string? redisPattern = null)
    {
        var text = new StringBuilder();
        foreach (var connectionString in postgresConnectionStrings)
        {
            await using var connection = new NpgsqlConnection(connectionString);
            await connection.OpenAsync();
            var tables = new List<string>();
            await using (var list = new NpgsqlCommand(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' AND table_type = 'BASE TABLE' ORDER BY table_name", connection))
            await using (var reader = await list.ExecuteReaderAsync())
            {
                while (await reader.ReadAsync())
                {
                    tables.Add(reader.GetString(0));
                }
            }

            foreach (var table in tables.Where(t => t != "__EFMigrationsHistory"))
            {
                // Row contents as text, in a stable order: a changed row shows as well as an added one.
                await using var rows = new NpgsqlCommand($"SELECT t::text FROM \"{table}\" t ORDER BY 1", connection);
                await using var reader = await rows.ExecuteReaderAsync();
                text.Append("table ").Append(connection.Database).Append('.').AppendLine(table);
                while (await reader.ReadAsync())
                {
                    text.Append("  ").AppendLine(reader.GetString(0));
                }
            }
        }

        if (redisConfiguration is not null && redisPattern is not null)
        {
            await using var redis = await ConnectionMultiplexer.ConnectAsync(redisConfiguration);
            var server = redis.GetServers()[0];
            var database = redis.GetDatabase();
            foreach (var key in server.Keys(pattern: redisPattern).Select(k => k.ToString()).Order(StringComparer.Ordinal))
            {
                var type = await database.KeyTypeAsync(key);
                var value = type switch
                {
                    RedisType.String => (string?)await database.StringGetAsync(key),
                    RedisType.Hash => string.Join(",", (await database.HashGetAllAsync(key)).Select(e => $"{e.Name}={e.Value}").Order(StringComparer.Ordinal)),
                    RedisType.SortedSet => string.Join(",", (await database.SortedSetRangeByRankWithScoresAsync(key)).Select(e => $"{e.Element}:{e.Score}")),
                    RedisType.Set => string.Join(",", (await database.SetMembersAsync(key)).Select(v => v.ToString()).Order(StringComparer.Ordinal)),
                    _ => type.ToString(),
                };
                text.Append("redis ").Append(key).Append(" = ").AppendLine(value);
            }
        }

        return text.ToString();
    }
}
