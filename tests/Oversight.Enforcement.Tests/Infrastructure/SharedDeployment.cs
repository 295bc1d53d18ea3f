namespace Oversight.Enforcement.Tests.Infrastructure;

/// <summary>
/// One deployment for the test classes that only add state of their own marketplace and never
/// change the policy or stop a server (Authorize, usage, notices, rebuilds). Started once per
/// test run and stopped with the process; classes on it run in parallel.
/// </summary>
public static class SharedDeployment
{
    private static readonly Lazy<Task<EnforcementDeployment>> Instance = new(() => EnforcementDeployment.StartAsync());

    public static Task<EnforcementDeployment> GetAsync() => Instance.Value;
}
