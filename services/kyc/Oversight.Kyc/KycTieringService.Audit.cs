using System.Globalization;
using System.Text;
using Google.Protobuf.WellKnownTypes;
using Grpc.Core;
using Microsoft.EntityFrameworkCore;
using Microsoft.IdentityModel.Tokens;
using Oversight.Hosting;
using Oversight.Hosting.Auth;
using Oversight.Kyc.V1;

namespace Oversight.Kyc;

public sealed partial class KycTieringService
{
    public const int DefaultAuditPageSize = 100;
    public const int MaxAuditPageSize = 1000;
    private const string PageTokenPrefix = "audit:v1:";

    /// <summary>
    /// The marketplace's audit log, oldest first, for an auditor or compliance officer: every
    /// account creation, tier change, purpose statement and protected read, verification start and
    /// result, suspension, reinstatement, link and erasure, with who (role:subject), when, why and
    /// the policy version. Paged by the audit sequence: page_size 0 means 100, more than 1000 is
    /// read as 1000; next_page_token is empty on the last page.
    /// </summary>
    public override async Task<ListAuditEventsResponse> ListAuditEvents(ListAuditEventsRequest request, ServerCallContext context)
    {
        var caller = Caller.From(context).RequireRole(Roles.Auditor, Roles.Compliance);
        var after = ParsePageToken(request.PageToken);
        new Validation()
            .CheckId(request.MarketplaceId, "marketplace_id")
            .CheckId(request.AccountId, "account_id", required: false)
            .Check(request.PageSize >= 0, "page_size", $"page_size must be 0 (the default, {DefaultAuditPageSize}) or positive (at most {MaxAuditPageSize} are returned).")
            .Check(after is not null, "page_token", "page_token is not a token this method returned; leave it empty for the first page.")
            .ThrowIfInvalid();
        caller.RequireMarketplace(request.MarketplaceId);

        var size = request.PageSize == 0 ? DefaultAuditPageSize : Math.Min(request.PageSize, MaxAuditPageSize);
        var query = db.AuditEvents.AsNoTracking().Where(a => a.MarketplaceId == request.MarketplaceId && a.Sequence > after);
        if (!string.IsNullOrEmpty(request.AccountId))
        {
            query = query.Where(a => a.AccountId == request.AccountId);
        }

        var rows = await query.OrderBy(a => a.Sequence).Take(size + 1).ToListAsync(context.CancellationToken);
        var response = new ListAuditEventsResponse();
        response.Events.AddRange(rows.Take(size).Select(a => new AuditEvent
        {
            Sequence = a.Sequence,
            At = Timestamp.FromDateTimeOffset(a.At),
            Action = a.Action,
            AccountId = a.AccountId ?? "",
            Actor = a.Actor,
            Reason = a.Reason,
            PolicyVersion = a.PolicyVersion,
        }));
        if (rows.Count > size)
        {
            response.NextPageToken = Base64UrlEncoder.Encode(Encoding.UTF8.GetBytes(PageTokenPrefix + rows[size - 1].Sequence.ToString(CultureInfo.InvariantCulture)));
        }

        return response;
    }

    /// <summary>The sequence after which the page starts (0 for the first page); null for a token this method did not make.</summary>
    private static long? ParsePageToken(string token)
    {
        if (string.IsNullOrEmpty(token))
        {
            return 0;
        }

        try
        {
            var text = Encoding.UTF8.GetString(Base64UrlEncoder.DecodeBytes(token));
            return text.StartsWith(PageTokenPrefix, StringComparison.Ordinal) &&
                   long.TryParse(text.AsSpan(PageTokenPrefix.Length), NumberStyles.None, CultureInfo.InvariantCulture, out var sequence)
                ? sequence
                : null;
        }
        catch (Exception exception) when (exception is FormatException or ArgumentException)
        {
            return null;
        }
    }
}
