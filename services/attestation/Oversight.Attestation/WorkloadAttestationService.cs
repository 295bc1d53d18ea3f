using Microsoft.AspNetCore.Authorization;
using Oversight.Attestation.V1;

namespace Oversight.Attestation;

/// <summary>oversight.attestation.v1.WorkloadAttestation. Methods not overridden here answer UNIMPLEMENTED.</summary>
[Authorize]
public sealed class WorkloadAttestationService : WorkloadAttestation.WorkloadAttestationBase
{
}
