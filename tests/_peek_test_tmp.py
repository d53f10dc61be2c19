from tests.test_implement import *
def test_peek(github, llm, settings, make_dispatcher):
    number = seed(github)
    bot_spec(github, settings, number)
    workflow = {"path": ".github/workflows/ci.yml", "action": "write", "content": "on: [push, pull_request]\n"}
    llm.script("fast-a", reply(WRITE_EXPORT, BAD_CORE, workflow), reply(WRITE_EXPORT, BAD_CORE))
    llm.script("reason-a", reply(*GOOD, workflow, summary="ESCALATED-SUMMARY @someone\n/merge now"))
    run(make_dispatcher(settings), labeled(number, delivery="d-switch"))
    print("=====PR BODY\n" + github.pull_issue(REPO, the_pull(github).number).body)
    for i, b in enumerate(llm.requests):
        print(f"=====REQUEST {i}")
        for m in b["messages"]:
            print(f"--- {m['role']}\n{m['content']}")
    for w in github.writes():
        if w.path.endswith("/git/commits"): print("=====COMMIT\n" + w.json["message"])
