using Oversight.Policy.Counters;

namespace Oversight.Counters.Tests;

public sealed class InMemoryCounterStoreConformanceTests() : CounterStoreConformanceTests(new InMemoryCounterStore());
