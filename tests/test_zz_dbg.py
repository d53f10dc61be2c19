import time, functools
from tests import test_review as T
import bot.review_context as RC, bot.models as M, bot.review_post as RP, bot.pr_context as PC

def timed(mod, name, log):
    f = getattr(mod, name)
    @functools.wraps(f)
    async def w(*a, **k):
        t = time.time(); r = await f(*a, **k); log.append((name, round(time.time()-t, 2))); return r
    setattr(mod, name, w)

def test_dbg(github, llm, settings, make_dispatcher, monkeypatch):
    log = []
    for mod, name in [(RC, "assemble_review"), (M.ModelRouter, "complete"), (RC, "read_tree"), (RC, "list_files"), (RC, "diff_pieces"), (RC, "content_pieces"), (RC, "read_texts")]:
        monkeypatch.setattr(mod, name, getattr(mod, name)); timed(mod, name, log)
    t = time.time(); number, fields = T.seed_large(github); print("seed", time.time() - t)
    llm.default("wide-a", T.review_reply)
    d = make_dispatcher(settings)
    t = time.time(); T.run(d, T.pr_event(fields)); print("run1", time.time() - t, log)
    log.clear()
    t = time.time(); T.run(d, T.pr_event(fields, action="synchronize", delivery="x2")); print("run2", time.time() - t)
