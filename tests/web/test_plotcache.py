"""The per-app plot cache: finished tests kept, running ones refreshed, LRU bound."""
from appliance.web.plotcache import PlotCache


def test_running_plots_refresh_finished_stay_and_the_oldest_goes():
    cache = PlotCache(size=2, fresh_for=10)
    made = []

    def make(name):
        return lambda: made.append(name) or {"plot": name}

    assert cache.get((1, "running"), False, make("a"), now=0) == {"plot": "a"}
    assert cache.get((1, "running"), False, make("b"), now=5) == {"plot": "a"}, "still fresh"
    assert cache.get((1, "running"), False, make("c"), now=11) == {"plot": "c"}, "stale"
    cache.get((2, "completed"), True, make("d"), now=0)
    assert cache.get((2, "completed"), True, make("e"), now=10_000) == {"plot": "d"}
    cache.get((3, "completed"), True, make("f"), now=10_001)  # evicts test 1, used longest ago
    assert cache.get((2, "completed"), True, make("g"), now=10_002) == {"plot": "d"}
    cache.get((1, "running"), False, make("h"), now=10_003)
    assert made == ["a", "c", "d", "f", "h"]
