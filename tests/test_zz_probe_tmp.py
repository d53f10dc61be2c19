import time, resource, re
from collections import Counter
from tests import test_review as T
import bot.review_context as RC
from bot import catalog

def test_probe(github, llm, settings, make_dispatcher, monkeypatch):
    catalog.count_tokens("warm", "openai/wide-a")
    base = {f"d{i // 100}/f{i:05d}.py": f"x = {i}\n" for i in range(20_000)}
    github.create_repo(T.REPO, base, roles={"alice": "write"})
    changes = {f"new/p{i // 50}/m{i:04d}.py": "".join(f"v_{i}_{k} = {k}\n" for k in range(100)) for i in range(3000)}
    pull = github.open_pull(T.REPO, "feature", changes)
    fields = T.pull_fields(pull, 300_000, 0, 3000, False, None)
    github.state.diff(*github.state.pull_shas(github.state.repo(T.REPO), pull))
    stamps = {}
    orig = RC.assemble_review
    async def timed(*a, **k):
        t0 = time.time(); r = await orig(*a, **k); stamps.update(assemble=round(time.time() - t0, 2), chunks=len(r.prompts), tokens=r.coverage.tokens); return r
    monkeypatch.setattr(RC, "assemble_review", timed)
    llm.default("wide-a", '{"summary": "ok", "verdict": "looks-good", "findings": []}')
    github.set_latency(0.03)
    n0 = len(github.requests)
    t = time.time(); T.run(make_dispatcher(settings), T.pr_event(fields)); total = time.time() - t
    print("PROBE total", round(total, 2), stamps, "requests", len(github.requests) - n0, "maxrss MB", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024)
