using System.Security.Cryptography;
using System.Text;
using StackExchange.Redis;

namespace Oversight.Enforcement.Redis;

/// <summary>
/// One Lua script (the shared prelude plus its body, embedded resources), loaded once per server:
/// it is run by EVALSHA, and on NOSCRIPT (a restarted or new server) by EVAL, which also caches it
/// there. Only NOSCRIPT is handled; every other error propagates.
/// </summary>
internal sealed class CounterScript
{
    private const string ResourcePrefix = "Oversight.Enforcement.Redis.Scripts.";

    private readonly byte[] _sha1;

    private CounterScript(string name, string text)
    {
        Name = name;
        Text = text;
        _sha1 = SHA1.HashData(Encoding.UTF8.GetBytes(text));
    }

    public string Name { get; }

    public string Text { get; }

    public static CounterScript Load(string name)
    {
        var text = ReadResource("common.lua") + "\n" + ReadResource(name + ".lua");
        return new CounterScript(name, text);
    }

    public async Task<RedisResult> EvaluateAsync(IDatabaseAsync database, RedisKey[] keys, RedisValue[] values)
    {
        try
        {
            return await database.ScriptEvaluateAsync(_sha1, keys, values).ConfigureAwait(false);
        }
        catch (RedisServerException ex) when (ex.Message.StartsWith("NOSCRIPT", StringComparison.Ordinal))
        {
            return await database.ScriptEvaluateAsync(Text, keys, values).ConfigureAwait(false);
        }
    }

    private static string ReadResource(string file)
    {
        var assembly = typeof(CounterScript).Assembly;
        using var stream = assembly.GetManifestResourceStream(ResourcePrefix + file)
            ?? throw new InvalidOperationException($"Embedded script '{file}' is missing from {assembly.GetName().Name}.");
        using var reader = new StreamReader(stream, Encoding.UTF8);
        return reader.ReadToEnd();
    }
}
