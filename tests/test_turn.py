"""A chat turn is one workflow: the Search page and the CLI read, search and answer a
question through the same calls (core.retrieval.turn), so they show the same products."""

from __future__ import annotations

import json

import pytest
from streamlit.testing.v1 import AppTest

from core.cli.app import main
from core.lens import Lens
from core.retrieval.turn import TurnRequest, run_turn
from tests.conftest import ROOT, store_env

QUESTION = "sony headphones under ₹2000"


@pytest.fixture
def shop_env(shop_catalog, monkeypatch):
    for name, value in store_env(shop_catalog).items():
        monkeypatch.setenv(name, value)
    return shop_catalog


def test_the_page_and_the_cli_show_what_the_workflow_finds(shop_env, capsys):
    turn = run_turn(Lens(shop_env).searcher("shop"), TurnRequest(QUESTION, "shop"), ask=True)
    ids = [h.product_id for h in turn.result.text_hits]
    assert ids and turn.answer is not None and turn.answer.recommended_ids

    code = main(["ask", QUESTION, "--catalog", "shop", "--json", "--quiet"])
    payload = json.loads(capsys.readouterr().out)
    assert code == 0 and [r["product_id"] for r in payload["text_results"]] == ids
    assert payload["recommended_ids"] == turn.answer.recommended_ids
    main(["ask", QUESTION, "--catalog", "shop", "--quiet"])  # as text: why no LLM wrote it
    assert "without a language model: no LLM configured" in capsys.readouterr().out

    at = AppTest.from_file(str(ROOT / "pages" / "search.py"), default_timeout=90).run()
    at.text_input[0].input(QUESTION)
    at.button[0].click().run()
    assert not at.exception, at.exception
    names = list(at.dataframe[0].value["Name"])
    assert names[: len(ids)] == [h.name for h in turn.result.text_hits][: len(names)]
    assert at.session_state["chat"][-1]["content"] == turn.answer.text


def test_a_turn_continues_the_last_one_unless_asked_alone(shop_env):
    lens = Lens(shop_env)
    first = run_turn(lens.searcher("shop"), TurnRequest("sony headphones", "shop"))
    follow = TurnRequest("under ₹1000?", "shop", previous=first.understood,
                         shown_prices=tuple(h.price for h in first.result.hits))  # fmt: skip
    understood = follow.understand(lens.searcher("shop"))
    assert understood.follow_up_of == "sony headphones" and understood.max_price == 1000
    alone = TurnRequest("under ₹1000?", "shop", previous=first.understood, alone=True)
    assert not alone.understand(lens.searcher("shop")).follow_up_of
    literal = TurnRequest("sony headphones under ₹1000", "shop", literal=True).understand(
        lens.searcher("shop")
    )
    assert literal.constraints() == [] and literal.search_text == "sony headphones under ₹1000"
