"""The campaign report (`twinscore report`): one self-contained HTML file with a
section per subject, written atomically, and — where Chromium is installed —
rendered by a headless browser into a non-blank page showing every section."""

import base64
import re
import shutil
import subprocess

import pytest

from twinscore.cli import main, report
from twinscore.cli.demo import step_scoring, step_segments, step_tables, step_twins, step_value

pytest.importorskip("matplotlib")


@pytest.fixture(scope="module")
def context():
    """One small demo run for every test (the engines run once)."""
    return report.demo_context(3_000, 500, 1, steps=[step_tables, step_scoring, step_value, step_segments,
                                                     step_twins])


@pytest.fixture(scope="module")
def html(context):
    return report.build_report(context)


@pytest.fixture(scope="module")
def written(tmp_path_factory, html):
    path = tmp_path_factory.mktemp("report") / "campaign.html"
    path.write_text(html, encoding="utf-8")
    return path


@pytest.fixture
def fast(monkeypatch, context, html):
    """write_report reusing the module's demo run and its HTML (the command and the
    writing are under test here, the sections above)."""
    monkeypatch.setattr(report, "demo_context", lambda *args, **kwargs: context)
    monkeypatch.setattr(report, "build_report", lambda ctx: html)


def test_every_section_is_there_with_its_figures_embedded(written):
    text = written.read_text(encoding="utf-8")
    for anchor, title in report.SECTIONS:
        assert f"<section id='{anchor}'><h2>{title}</h2>" in text
    images = re.findall(r"src='data:image/png;base64,([A-Za-z0-9+/=]+)'", text)
    assert len(images) >= 14
    assert all(base64.b64decode(i)[:8] == b"\x89PNG\r\n\x1a\n" for i in images)
    # Self-contained: nothing fetched when it is opened.
    assert not re.search(r"(src|href)=['\"]?(https?:)?//|url\(", text)
    assert "<script" not in text


def test_the_command_writes_once_and_replaces_only_when_asked(tmp_path, fast, capsys):
    out = tmp_path / "r.html"
    assert main(["report", "--out", str(out)]) == 0
    assert out.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    out.write_text("keep me")
    assert main(["report", "--out", str(out)]) == 2
    assert "exists" in capsys.readouterr().err and out.read_text() == "keep me"
    assert main(["report", "--out", str(out), "--overwrite"]) == 0
    assert out.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    assert [p.name for p in tmp_path.iterdir()] == ["r.html"]  # no temporary file left


def test_a_failure_leaves_no_file(tmp_path, fast, monkeypatch):
    def broken(ctx):
        raise ValueError("a section failed")

    monkeypatch.setattr(report, "build_report", broken)
    with pytest.raises(ValueError, match="section failed"):
        report.write_report(tmp_path / "r.html")
    assert list(tmp_path.iterdir()) == []


def test_bad_paths_are_refused_before_any_work(tmp_path, capsys):
    assert main(["report", "--out", str(tmp_path / "r.pdf")]) == 2
    assert ".html" in capsys.readouterr().err
    assert main(["report", "--out", str(tmp_path / "missing" / "r.html")]) == 2
    assert "does not exist" in capsys.readouterr().err


def _chromium():
    return shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


@pytest.mark.skipif(_chromium() is None, reason="no Chromium on this machine (Debian's chromium package, installed "
                                                "by scripts/install-system.sh where available)")
def test_chromium_renders_a_non_blank_page_with_every_section(written, tmp_path):
    import matplotlib.image as mpimg
    import numpy as np

    args = [_chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
            "--hide-scrollbars", "--no-first-run", "--window-size=1280,2400"]
    url = written.as_uri()
    shot = tmp_path / "shot.png"
    subprocess.run([*args, f"--screenshot={shot}", url], check=True, capture_output=True, timeout=120)
    pixels = mpimg.imread(shot)[..., :3]
    assert pixels.shape[:2] == (2400, 1280)
    # Not blank: many colours, a good share of pixels away from the page background.
    background = np.median(pixels.reshape(-1, 3), axis=0)
    assert (np.abs(pixels - background).sum(axis=2) > 0.1).mean() > 0.05
    # The header bar in the report's blue (#1f6fb2) across the top of the page.
    assert np.allclose(pixels[10, 640], [0x1f / 255, 0x6f / 255, 0xb2 / 255], atol=0.03)
    dom = subprocess.run([*args, "--dump-dom", url], check=True, capture_output=True, text=True, timeout=120).stdout
    for _, title in report.SECTIONS:
        assert f"<h2>{title}</h2>" in dom


def test_a_report_from_batch_job_outputs(tmp_path, capsys):
    import numpy as np
    import pandas as pd

    import twinscore as ts

    xgb = pytest.importorskip("xgboost")
    market = ts.datasets.make_prm(n_prospects=2_000, n_clients=400, seed=2)
    p = market.prospects
    X = pd.DataFrame({"contact_id": p["contact_id"], "income": p["income"],
                      "email_optin": p["email_optin"].astype(np.float64)})
    model = xgb.XGBClassifier(n_estimators=10, max_depth=3, n_jobs=1)
    model.fit(X.drop(columns="contact_id"), p["converted"].astype(int))
    model.get_booster().save_model(tmp_path / "m.ubj")
    X.to_parquet(tmp_path / "prospects.parquet")
    p[["contact_id", "converted"]].astype({"converted": int}).to_csv(tmp_path / "outcomes.csv", index=False)
    market.transactions.to_csv(tmp_path / "tx.csv", index=False)
    (tmp_path / "score.toml").write_text('[job]\nkind = "tree_score"\n[input]\npath = "prospects.parquet"\n'
                                         'id = "contact_id"\n[model]\npath = "m.ubj"\nreasons = 2\n'
                                         '[output]\npath = "scores.parquet"\n')
    (tmp_path / "rfm.toml").write_text('[job]\nkind = "rfm"\n[input]\npath = "tx.csv"\n[rfm]\n'
                                       'customer = "client_id"\ndate = "date"\namount = "amount"\n'
                                       '[output]\npath = "rfm.parquet"\n')
    assert main(["run", str(tmp_path / "score.toml")]) == 0
    assert main(["run", str(tmp_path / "rfm.toml")]) == 0
    out = tmp_path / "jobs.html"
    files = ["--scores", str(tmp_path / "scores.parquet"), "--outcomes", str(tmp_path / "outcomes.csv"),
             "--rfm", str(tmp_path / "rfm.parquet")]
    assert main(["report", "--out", str(out), *files]) == 0
    text = out.read_text(encoding="utf-8")
    scores = pd.read_parquet(tmp_path / "scores.parquet")
    auc = ts.metrics.roc_auc(p["converted"], scores["score"])  # same contacts, same order
    assert "<h2>Conversion score quality</h2>" in text and "<h2>Client value: RFM</h2>" in text
    assert f"<div class='v'>{auc:.3f}</div><div class='l'>AUC</div>" in text
    assert "First reasons" in text and len(re.findall(r"data:image/png;base64,", text)) >= 7
    capsys.readouterr()
    assert main(["report", "--out", str(tmp_path / "x.html"), "--outcomes", str(tmp_path / "outcomes.csv")]) == 2
    assert "give the scores too" in capsys.readouterr().err
    assert main(["report", "--out", str(tmp_path / "x.html"), *files[:4], "--outcome", "bought"]) == 2
    assert "'bought'" in capsys.readouterr().err
    assert not (tmp_path / "x.html").exists()


def test_the_twins_plots_rank_by_the_reference_score(context, monkeypatch):
    """The demo's index has a reference (past leads): the lookalike plots use
    the reference score, the one the audience is ranked by — not the plain
    similarity score, which favours prospects who resemble everybody."""
    import numpy as np

    import twinscore as ts

    res = context.results["twins"]
    assert res.reference_score is not None
    assert not np.allclose(res.reference_score, res.score)
    drawn = []
    monkeypatch.setattr(report._Section, "draw", lambda self, plot, *args, **kw: drawn.append((plot, args)))
    report._twins_section(context)
    scores = {plot: args[1] for plot, args in drawn
              if plot in (ts.plot.lookalike_conversion, ts.plot.audience_conversions)}
    assert len(scores) == 2
    for score in scores.values():
        np.testing.assert_array_equal(score, res.reference_score)
