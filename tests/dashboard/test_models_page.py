"""Models page: versions with metrics, charts, retrain in the background (admin), job progress,
and the admin's decision on a version the retraining policy held back."""

from __future__ import annotations

import subprocess

import pandas as pd

from core.lifecycle import jobs, liveness
from core.lifecycle.retrain_policy import WAITS
from dashboard import actions, cache
from dashboard.components import md_escape
from db.queries import jobs as job_queries
from db.queries import model_versions as model_queries
from db.queries import retrain_policy


def test_versions_and_charts_for_moderators(signed_in, seeded) -> None:
    with seeded.db.session() as s:
        newer = model_queries.create_model_version(s, encoder_id="lite", encoder_version="1")
        model_queries.finish_model_version(
            s, model_version_id=newer.id, status="ready", metrics={"threshold_floor": 0.2}
        )
    at = signed_in("mod").switch_page("views/models.py").run()
    assert not at.exception
    table = at.dataframe[0].value.set_index("version")
    assert list(table.index) == [f"v{newer.id}", "v1"] and table["active"]["v1"] == "★"
    assert float(table["micro_auprc"]["v1"]) == 0.5
    assert table["decision floor"][f"v{newer.id}"] == 0.2
    assert pd.isna(table["decision floor"]["v1"])  # trained before the floor existed
    assert at.caption[0].value == (  # v1 exists: it did not come from a job here
        "No retrain has run from the dashboard or the retraining policy yet; the versions below "
        "were trained from the command line."
    )


def test_a_training_whose_worker_was_killed_is_listed_as_failed_with_the_reason(
    signed_in, seeded
) -> None:
    gone = subprocess.Popen(["true"])
    gone.wait()
    with seeded.db.session() as s:
        job = job_queries.create_job(s, kind="train", params={})
        job_queries.update_job(s, job_id=job.id, status="running", pid=gone.pid)
        model_queries.create_model_version(
            s, encoder_id="lite", encoder_version="1", config={"job_id": job.id}
        )
    at = signed_in("mod").switch_page("views/models.py").run()
    assert not at.exception
    table = at.dataframe[0].value
    assert list(table["version"]) == ["v2", "v1"] and list(table["active"]) == ["", "★"]
    assert list(table["status"]) == ["failed", "ready"]
    assert table["notes"][0] == f"training job {job.id}: {liveness.WORKER_EXITED}"


def test_admin_retrain_starts_a_background_job(signed_in, seeded, monkeypatch) -> None:
    started: list[dict] = []

    def fake_start_job(db, *, kind, params, user, settings):
        started.append({"kind": kind, "params": params, "user": user.username})
        with db.session() as s:
            job = job_queries.create_job(s, kind=kind, created_by=user.id, params=params)
            job_queries.update_job(
                s,
                job_id=job.id,
                status="running",
                progress=0.4,
                message="member 1/1, epoch 3",
                metrics={
                    "history": [
                        {"member": 0, "epoch": e, "train_loss": 1.0 / (e + 1), "valid_ap": 0.1 * e}
                        for e in range(3)
                    ]
                },
            )
            return job.id

    monkeypatch.setattr(jobs, "start_job", fake_start_job)
    at = signed_in("boss").switch_page("views/models.py").run()
    at.button(key="models_retrain").click().run()
    assert started == [{"kind": "train", "params": {"activate": False}, "user": "boss"}]
    at.run()
    assert at.get("progress")[0].value == 40  # polled from the Job row
    assert "epoch 3" in at.get("progress")[0].proto.text


def test_a_retrain_the_policy_started_says_so_and_how_it_ended(signed_in, seeded) -> None:
    verdict = "v3 trained (scheduled every 24 h); waits for a human decision: held-out ..."
    with seeded.db.session() as s:
        job = job_queries.create_job(
            s, kind="train", params={"activate": False, "policy": "scheduled every 24 h"}
        )
        job_queries.update_job(
            s, job_id=job.id, status="succeeded", progress=1.0, result={"policy": verdict}
        )
    at = signed_in("mod").switch_page("views/models.py").run()
    assert not at.exception
    shown = md_escape("Started by the retraining policy: scheduled every 24 h.")
    assert shown in [c.value for c in at.caption]
    assert [i.value for i in at.info] == [md_escape(verdict)]


def test_a_version_the_policy_held_back_asks_the_admin(signed_in, seeded, monkeypatch) -> None:
    decided: list[int] = []
    monkeypatch.setattr(
        actions, "promote_and_predict", lambda db, *, version_id: decided.append(version_id)
    )
    with seeded.db.session() as s:
        held = model_queries.create_model_version(s, encoder_id="lite", encoder_version="1")
        model_queries.finish_model_version(s, model_version_id=held.id, status="ready")
        retrain_policy.hold_back(
            s, model_version_id=held.id, reason=f"{WAITS}: held-out micro AU(PRC) 0.5 vs 0.6"
        )
    moderator = signed_in("mod").switch_page("views/models.py").run()
    assert not moderator.exception and not moderator.warning  # the admin's decision
    at = signed_in("boss").switch_page("views/models.py").run()
    assert [w.value for w in at.warning] == [
        md_escape(f"v{held.id} {WAITS}: held-out micro AU(PRC) 0.5 vs 0.6")
    ]
    at.button(key="models_promote_waiting").click().run()
    assert not at.exception and decided == [held.id]
    with seeded.db.session() as s:  # the version went live: no question any more
        model_queries.set_active_model(s, model_version_id=held.id)
    cache.clear_data()  # as the promotion does
    assert not signed_in("boss").switch_page("views/models.py").run().warning


def test_a_running_prediction_job_shows_its_step(signed_in, running_prediction_job) -> None:
    """Issue 17: the re-predict job names the ranking of the review queue while it runs."""
    job_id = running_prediction_job(
        progress=0.12, message="ranking the review queue (gradients): 12,000 of 100,000 videos"
    )
    at = signed_in("mod").switch_page("views/models.py").run()
    assert not at.exception
    bar = at.get("progress")[0]
    assert bar.value == 12
    assert bar.proto.text == md_escape(
        f"Prediction job {job_id}: running — "
        "ranking the review queue (gradients): 12,000 of 100,000 videos"
    )


def test_the_servers_rank_job_shows_why_it_started_and_how_it_failed(signed_in, seeded) -> None:
    """Issue 17: the server's ranking job is listed where the prediction job is, with its reason;
    a failure is shown in words (the server does not retry it at once)."""
    with seeded.db.session() as s:
        job = job_queries.create_job(
            s, kind="rank", params={"reason": "3 videos reached the pool after the last ranking"}
        )
        job_queries.update_job(s, job_id=job.id, status="failed", message="out of memory")
    at = signed_in("mod").switch_page("views/models.py").run()
    assert not at.exception
    assert at.get("progress")[0].proto.text == md_escape(
        f"Ranking job {job.id}: failed — out of memory"
    )
    assert md_escape(
        "Started by the server: 3 videos reached the pool after the last ranking."
    ) in [c.value for c in at.caption]
    assert [e.value for e in at.error] == [md_escape("Ranking failed: out of memory")]


def test_a_rank_job_from_the_timer_says_so(signed_in, seeded) -> None:
    """A rank job `tagger rank-if-due` ran is not credited to the server."""
    with seeded.db.session() as s:
        job = job_queries.create_job(
            s,
            kind="rank",
            params={
                "reason": "1 video reached the pool after the last ranking",
                "started_by": "`tagger rank-if-due`",
            },
        )
        job_queries.update_job(s, job_id=job.id, status="succeeded", message="done")
    at = signed_in("mod").switch_page("views/models.py").run()
    assert not at.exception
    assert md_escape(
        "Started by `tagger rank-if-due`: 1 video reached the pool after the last ranking."
    ) in [c.value for c in at.caption]
