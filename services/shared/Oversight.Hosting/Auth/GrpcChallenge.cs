using System.Text;
using Microsoft.AspNetCore.Authentication.JwtBearer;
using Microsoft.AspNetCore.Http;
using Microsoft.IdentityModel.Tokens;

namespace Oversight.Hosting.Auth;

/// <summary>
/// A gRPC call without a valid bearer token gets UNAUTHENTICATED with a message saying what is
/// wrong with it. The JWT handler's plain HTTP 401 reaches gRPC clients as "Received HTTP status
/// code 401" and nothing else; this answers as gRPC does (a trailers-only response).
/// </summary>
internal static class GrpcChallenge
{
    public static Task OnChallenge(JwtBearerChallengeContext context)
    {
        if (context.Request.ContentType?.StartsWith("application/grpc", StringComparison.OrdinalIgnoreCase) != true)
        {
            return Task.CompletedTask;
        }

        context.HandleResponse();
        var response = context.Response;
        response.StatusCode = StatusCodes.Status200OK;
        response.ContentType = "application/grpc";
        response.Headers["grpc-status"] = "16"; // UNAUTHENTICATED
        response.Headers["grpc-message"] = PercentEncode(Message(context.AuthenticateFailure, context.Request.Headers.Authorization.Count > 0));
        return Task.CompletedTask;
    }

    /// <summary>Why the token was refused, in words that do not echo the token.</summary>
    internal static string Message(Exception? failure, bool sent) => failure switch
    {
        null when !sent => "A bearer token is required: send the header 'authorization: Bearer <token>'.",
        null => "The authorization header is not 'Bearer <token>'.",
        SecurityTokenExpiredException => "The bearer token has expired.",
        SecurityTokenNotYetValidException => "The bearer token is not valid yet.",
        SecurityTokenInvalidAudienceException => "The bearer token is for another audience.",
        SecurityTokenInvalidIssuerException => "The bearer token is from an issuer this deployment does not trust.",
        SecurityTokenSignatureKeyNotFoundException or SecurityTokenInvalidSignatureException => "The bearer token's signature does not match a key this deployment trusts.",
        SecurityTokenNoExpirationException => "The bearer token has no expiry.",
        _ => "The bearer token is not a valid token.",
    };

    // gRPC's status message encoding: bytes outside printable ASCII, and '%', as %XX of UTF-8.
    private static string PercentEncode(string message)
    {
        var text = new StringBuilder();
        foreach (var b in Encoding.UTF8.GetBytes(message))
        {
            text.Append(b is >= 0x20 and <= 0x7E and not (byte)'%' ? ((char)b).ToString() : $"%{b:X2}");
        }

        return text.ToString();
    }
}
