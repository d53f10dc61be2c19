import time, httpx, statistics
from bot import queue as q, jobs
from tests.test_queue import serve
from tests.serving import help_comment, sqlite_store, webhook_headers, wait_status
T = {}
def test_lat(app_settings, make_config, github, monkeypatch):
    oe = q.JobQueue.enqueue
    def enq(self, ids):
        T.setdefault(ids[0], {})["enq0"] = time.perf_counter(); oe(self, ids); T[ids[0]]["enq1"] = time.perf_counter()
    monkeypatch.setattr(q.JobQueue, "enqueue", enq)
    orun = jobs.JobRunner.run
    def run(self, i):
        T[i]["run"] = time.perf_counter(); return orun(self, i)
    monkeypatch.setattr(jobs.JobRunner, "run", run)
    github.set_latency(0.05)
    ra, rr = [], []
    with serve(app_settings, make_config()) as served, httpx.Client(base_url=served.url) as http:
        store = sqlite_store(app_settings)
        for i in range(30):
            number, body = help_comment(github, comment_id=100 + i)
            time.sleep(0.2 + (i % 3) * 0.5)
            t0 = time.perf_counter()
            r = http.post("/webhook", content=body, headers=webhook_headers("issue_comment", f"l-{i}", body))
            t = time.perf_counter()
            while store.get(f"l-{i}").status == "pending":
                time.sleep(0.0005)
            t2 = time.perf_counter()
            d = T[f"l-{i}"]
            ra.append(1000*(d['run']-d['enq1'])); rr.append(1000*(t2-t))
    print("run-after-enq median %.1f max %.1f; 202->running median %.1f max %.1f" % (statistics.median(ra), max(ra), statistics.median(rr), max(rr)))
