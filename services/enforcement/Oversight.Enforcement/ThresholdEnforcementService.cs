using Microsoft.AspNetCore.Authorization;
using Oversight.Enforcement.V1;

namespace Oversight.Enforcement;

/// <summary>oversight.enforcement.v1.ThresholdEnforcement. Methods not overridden here answer UNIMPLEMENTED.</summary>
[Authorize]
public sealed class ThresholdEnforcementService : ThresholdEnforcement.ThresholdEnforcementBase
{
}
