using System.ComponentModel.DataAnnotations;

namespace Oversight.Kyc;

/// <summary>Section "Oversight:Kyc" (its Database and Secrets subsections have their own classes).</summary>
public sealed class KycOptions
{
    public const string Section = "Oversight:Kyc";

    public RedisSettings Redis { get; set; } = new();
    public CacheSettings Cache { get; set; } = new();
    public VerificationSettings Verification { get; set; } = new();

    /// <summary>"Oversight:Kyc:Redis".</summary>
    public sealed class RedisSettings
    {
        /// <summary>
        /// StackExchange.Redis configuration string for the account cache
        /// ("Oversight:Kyc:Redis:Configuration"). Unset: an in-process cache.
        /// </summary>
        public string? Configuration { get; set; }
    }

    /// <summary>"Oversight:Kyc:Cache".</summary>
    public sealed class CacheSettings
    {
        /// <summary>
        /// Lifetime of a cached account ("Oversight:Kyc:Cache:AccountTtlSeconds"). Every change
        /// removes the entry; the lifetime only bounds how long a read racing a change can
        /// leave an older copy behind.
        /// </summary>
        [Range(1, 86400)]
        public int AccountTtlSeconds { get; set; } = 60;
    }

    /// <summary>"Oversight:Kyc:Verification".</summary>
    public sealed class VerificationSettings
    {
        /// <summary>The identity provider StartIdentityVerification uses ("Oversight:Kyc:Verification:IdentityProvider").</summary>
        [Required]
        public string IdentityProvider { get; set; } = "simulated";

        /// <summary>The provider StartOrganisationVerification uses ("Oversight:Kyc:Verification:OrganisationProvider").</summary>
        [Required]
        public string OrganisationProvider { get; set; } = "simulated";

        /// <summary>
        /// A callback's timestamp must be within this many seconds of the server's clock
        /// ("Oversight:Kyc:Verification:ReplayWindowSeconds"). Replays inside the window are
        /// caught by the provider's event id.
        /// </summary>
        [Range(1, 86400)]
        public int ReplayWindowSeconds { get; set; } = 300;

        /// <summary>
        /// How long an approved identity or organisation verification grants its tier, counted
        /// from the provider's occurred_at ("Oversight:Kyc:Verification:ValidityDays").
        /// </summary>
        [Range(1, 3650)]
        public int ValidityDays { get; set; } = 365;

        /// <summary>
        /// How often the expiry sweep looks for tiers whose verification has run out
        /// ("Oversight:Kyc:Verification:ExpiryCheckSeconds"), by the host's clock.
        /// </summary>
        [Range(1, 86400)]
        public int ExpiryCheckSeconds { get; set; } = 60;
    }
}
