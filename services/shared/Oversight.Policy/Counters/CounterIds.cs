using System.Buffers;

namespace Oversight.Policy.Counters;

/// <summary>Subjects of a tag's counters.</summary>
public static class CounterSubject
{
    /// <summary>The cluster aggregate: the sum over every account of the tag.</summary>
    public const string Cluster = "*";
}

/// <summary>Builds counter tags.</summary>
public static class CounterTag
{
    /// <summary>
    /// The tag of a cluster: <c>&lt;marketplace&gt;:&lt;cluster root account&gt;</c>. An unlinked
    /// account is the root of its own cluster.
    /// </summary>
    public static string For(string marketplaceId, string clusterRootAccountId)
    {
        CounterIds.ValidateAccount(marketplaceId, nameof(marketplaceId));
        CounterIds.ValidateAccount(clusterRootAccountId, nameof(clusterRootAccountId));
        return string.Concat(marketplaceId, ":", clusterRootAccountId);
    }
}

/// <summary>Builds the id under which settlement marks an attestation as counted.</summary>
public static class CountedMark
{
    /// <summary>
    /// Ends the provider id in a mark. Providers choose attestation ids, so two providers may use
    /// the same one for one account: the mark must name the provider. '/' is never in a provider
    /// id ([A-Za-z0-9._:-]), so the first '/' ends it and no two (provider, id) pairs share a mark;
    /// nor in an attestation id, so a mark never equals a bare id (the marks written before ids
    /// were scoped per provider); and the store allows it in an opaque id (only control
    /// characters and '#' are refused).
    /// </summary>
    public const char Separator = '/';

    /// <summary><c>&lt;provider&gt;/&lt;attestation id&gt;</c>.</summary>
    public static string For(string providerId, string attestationId)
    {
        CounterIds.ValidateProvider(providerId, nameof(providerId));
        CounterIds.ValidateOpaqueId(attestationId, nameof(attestationId));
        return string.Concat(providerId, "/", attestationId);
    }
}

/// <summary>Validation of the identifiers that become parts of store keys.</summary>
public static class CounterIds
{
    private static readonly SearchValues<char> ControlCharacters =
        SearchValues.Create([.. Enumerable.Range(0, 0x20).Concat(Enumerable.Range(0x7F, 0x21)).Select(c => (char)c)]);

    /// <summary>Longest tag, account or provider id.</summary>
    public const int MaxLength = 256;

    /// <summary>Longest lease id or counted mark: a mark joins a provider id and an attestation id (<see cref="CountedMark"/>).</summary>
    public const int MaxOpaqueLength = (2 * MaxLength) + 1;

    /// <summary>Tag: [A-Za-z0-9._:-]+.</summary>
    public static void ValidateTag(string tag) => ValidateCharset(tag, allowColon: true, nameof(tag));

    /// <summary>Account id: [A-Za-z0-9._:-]+ (never "*").</summary>
    public static void ValidateAccount(string accountId, string paramName) => ValidateCharset(accountId, allowColon: true, paramName);

    /// <summary>Provider id: [A-Za-z0-9._:-]+.</summary>
    public static void ValidateProvider(string providerId, string paramName) => ValidateCharset(providerId, allowColon: true, paramName);

    /// <summary>Subject: an account id or <see cref="CounterSubject.Cluster"/>.</summary>
    public static void ValidateSubject(string subject, string paramName)
    {
        if (subject is CounterSubject.Cluster)
        {
            return;
        }

        ValidateCharset(subject, allowColon: true, paramName);
    }

    public static void ValidateSubjects(IReadOnlyList<string> subjects)
    {
        ArgumentNullException.ThrowIfNull(subjects);
        for (var i = 0; i < subjects.Count; i++)
        {
            ValidateSubject(subjects[i], nameof(subjects));
            for (var j = 0; j < i; j++)
            {
                if (string.Equals(subjects[i], subjects[j], StringComparison.Ordinal))
                {
                    throw new ArgumentException($"Subject '{subjects[i]}' is listed twice.", nameof(subjects));
                }
            }
        }
    }

    /// <summary>Lease ids and counted marks: opaque, 1 to <see cref="MaxOpaqueLength"/> characters, no control characters and no '#'.</summary>
    public static void ValidateOpaqueId(string id, string paramName)
    {
        ArgumentException.ThrowIfNullOrEmpty(id, paramName);
        if (id.Length > MaxOpaqueLength)
        {
            throw new ArgumentException($"Id longer than {MaxOpaqueLength} characters.", paramName);
        }

        // Vectorised searches (control characters U+0000-U+001F, U+007F-U+009F, and '#', which starts
        // the Redis store's own fields in a holds hash): every lease id of a replay passes here. Two
        // searches, because '#' among the control ranges makes the set a slower kind of search.
        if (id.AsSpan().IndexOfAny(ControlCharacters) >= 0 || id.AsSpan().Contains('#'))
        {
            throw new ArgumentException("Id contains a control character or '#'.", paramName);
        }
    }

    /// <summary>Windows: non-empty list, unique ids of [A-Za-z0-9._-]+, positive lengths and bucket sizes.</summary>
    public static void ValidateWindows(IReadOnlyList<CounterWindow> windows)
    {
        ArgumentNullException.ThrowIfNull(windows);
        for (var i = 0; i < windows.Count; i++)
        {
            var w = windows[i];
            ArgumentNullException.ThrowIfNull(w, nameof(windows));
            ValidateCharset(w.Id, allowColon: false, nameof(windows));
            if (w.BucketSeconds is <= 0 or > CounterWindow.MaxSeconds)
            {
                throw new ArgumentOutOfRangeException(nameof(windows), w.BucketSeconds, $"Window '{w.Id}': bucket size must be positive and at most {CounterWindow.MaxSeconds} s.");
            }

            if (w.LengthSeconds is <= 0 or > CounterWindow.MaxSeconds)
            {
                throw new ArgumentOutOfRangeException(nameof(windows), w.LengthSeconds, $"Window '{w.Id}': length must be positive and at most {CounterWindow.MaxSeconds} s.");
            }

            for (var j = 0; j < i; j++)
            {
                if (string.Equals(windows[j].Id, w.Id, StringComparison.Ordinal))
                {
                    throw new ArgumentException($"Window '{w.Id}' is listed twice.", nameof(windows));
                }
            }
        }
    }

    public static bool ContainsWindow(IReadOnlyList<CounterWindow> windows, string windowId)
    {
        for (var i = 0; i < windows.Count; i++)
        {
            if (string.Equals(windows[i].Id, windowId, StringComparison.Ordinal))
            {
                return true;
            }
        }

        return false;
    }

    private static void ValidateCharset(string value, bool allowColon, string paramName)
    {
        ArgumentException.ThrowIfNullOrEmpty(value, paramName);
        if (value.Length > MaxLength)
        {
            throw new ArgumentException($"'{value[..32]}...' is longer than {MaxLength} characters.", paramName);
        }

        foreach (var c in value)
        {
            var ok = c is (>= 'a' and <= 'z') or (>= 'A' and <= 'Z') or (>= '0' and <= '9') or '.' or '_' or '-'
                || (allowColon && c == ':');
            if (!ok)
            {
                throw new ArgumentException(
                    $"'{value}' may contain only letters, digits, '.', '_', '-'{(allowColon ? " and ':'" : string.Empty)}.", paramName);
            }
        }
    }
}
