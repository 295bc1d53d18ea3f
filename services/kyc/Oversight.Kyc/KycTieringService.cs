using Microsoft.AspNetCore.Authorization;
using Oversight.Kyc.V1;

namespace Oversight.Kyc;

/// <summary>oversight.kyc.v1.KycTiering. Methods not overridden here answer UNIMPLEMENTED.</summary>
[Authorize]
public sealed class KycTieringService : KycTiering.KycTieringBase
{
}
