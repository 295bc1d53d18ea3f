using Oversight.Policy;
using Oversight.Policy.Counters;
using StackExchange.Redis;

namespace Oversight.Enforcement.Redis;

/// <summary>
/// The key scheme of a tag. Every key is <c>ovs:{&lt;tag&gt;}:...</c>: the braces are the Redis
/// Cluster hash tag, so every key one script touches lives in one slot.
/// <list type="bullet">
/// <item><c>ovs:{tag}:e</c> string: the epoch marker; no TTL.</item>
/// <item><c>ovs:{tag}:hs</c> hash: lease id → <c>account|flopUnits|gpuSeconds|expiresAt</c>, and the
/// held sums per subject (<c>#f:&lt;subject&gt;</c>, <c>#g:&lt;subject&gt;</c>; lease ids never contain
/// '#'), which live and expire with the holds they sum.</item>
/// <item><c>ovs:{tag}:x</c> sorted set: lease ids of the holds, score = expiry (Unix s), so that
/// pruning visits only expired holds.</item>
/// <item><c>ovs:{tag}:h</c> hash: holds as scripts before the held sums wrote them (every hold
/// read on every call); the scripts take them over at the first call that finds them and delete
/// the key. A separate key, so that replicas of both versions running side by side during an
/// upgrade never read each other's layout as corrupt.</item>
/// <item><c>ovs:{tag}:m</c> sorted set: counted attestation ids, score = mark expiry (Unix s).</item>
/// <item><c>ovs:{tag}:k</c> set: every usage key ever written, so a reset finds them all without SCAN.</item>
/// <item><c>ovs:{tag}:r</c> string: the rebuild lease (one replica rebuilds a tag at a time); not
/// in the registry, so a reset leaves it alone; expires by itself if its holder dies.</item>
/// <item><c>ovs:{tag}:u:&lt;window&gt;:&lt;f|g&gt;:&lt;subject&gt;</c> hash: bucket index → amount
/// (lifetime windows: one field <c>t</c>). The subject comes last because account ids may contain
/// ':' and window ids may not, so two (window, subject) pairs never share a key.</item>
/// </list>
/// </summary>
public static class RedisCounterKeys
{
    public static RedisKey Epoch(string tag) => Prefix(tag) + "e";

    public static RedisKey Holds(string tag) => Prefix(tag) + "hs";

    public static RedisKey EarlierHolds(string tag) => Prefix(tag) + "h";

    public static RedisKey HoldExpiries(string tag) => Prefix(tag) + "x";

    public static RedisKey Marks(string tag) => Prefix(tag) + "m";

    public static RedisKey Registry(string tag) => Prefix(tag) + "k";

    public static RedisKey RebuildLease(string tag) => Prefix(tag) + "r";

    public static RedisKey Usage(string tag, string windowId, Metric metric, string subject) =>
        string.Concat(Prefix(tag), "u:", windowId, metric == Metric.FlopUnits ? ":f:" : ":g:", subject);

    private static string Prefix(string tag) => string.Concat("ovs:{", tag, "}:");
}
