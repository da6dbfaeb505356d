from __future__ import annotations

from streamlit.testing.v1 import AppTest

from tests.conftest import ROOT


def test_shell_shows_catalog_models_and_the_catalog_page(app_env):
    at = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=60).run()
    assert not at.exception
    assert at.sidebar.selectbox[0].value == "mini"
    assert at.sidebar.metric[0].value == "40"
    captions = " ".join(c.value for c in at.sidebar.caption)
    assert "tiny-clip" in captions and "all-minilm-l6-v2" in captions
    assert at.title[0].value == "Search & Chat"  # the default page
    at.switch_page("pages/catalog.py").run()
    assert not at.exception
    assert at.title[0].value == "Catalog"
    frame = at.dataframe[0].value
    assert len(frame) == 40
    assert {"image", "product_id", "name", "rating", "discount", "list price"} <= set(frame.columns)


def test_catalog_filters_narrow_the_table(app_env):
    at = AppTest.from_file(str(ROOT / "pages" / "catalog.py"), default_timeout=60).run()
    assert not at.exception
    total = len(at.dataframe[0].value)
    at.text_input[0].input("cable").run()
    names = at.dataframe[0].value["name"].tolist()
    assert 0 < len(names) < total
    assert all("cable" in n.lower() for n in names)


def test_search_page_query_gives_the_results_table_and_a_grounded_answer(app_env):
    at = AppTest.from_file(str(ROOT / "pages" / "search.py"), default_timeout=90).run()
    assert not at.exception
    at.text_input[0].input("speaker wire cable")
    at.button[0].click().run()  # the form's submit button
    assert not at.exception, at.exception
    table = at.dataframe[0].value
    assert list(table.columns) == ["Source", "Product ID", "Name", "Rating", "Price", "Score"]
    assert set(table["Source"]) == {"text", "image"} and len(table) == 10
    assert "cable" in table["Name"].iloc[0].lower() or "wire" in table["Name"].iloc[0].lower()
    chat = at.session_state["chat"]
    assert chat[0]["content"] == "speaker wire cable" and "product_id" in chat[1]["content"]
    assert any("Grounded answer" in c.value for c in at.caption)
    assert any("search" in c.value and "ms" in c.value for c in at.caption)


def test_search_page_uses_the_configured_llm(app_env, monkeypatch):
    from tests.fake_llm import FakeLLM

    with FakeLLM() as llm:
        llm.script.reply = "Look at (product_id: 0), a bronze speaker wire."
        monkeypatch.setenv("PRODUCTLENS_LLM_MODEL", "openai/fake")
        monkeypatch.setenv("PRODUCTLENS_LLM_API_BASE", llm.base_url)
        monkeypatch.setenv("PRODUCTLENS_LLM_API_KEY", "sk-page-test")
        at = AppTest.from_file(str(ROOT / "pages" / "search.py"), default_timeout=90).run()
        at.text_input[0].input("speaker wire")
        at.button[0].click().run()
        assert not at.exception, at.exception
        assert at.session_state["chat"][1]["content"] == llm.script.reply
        assert len(llm.script.requests) == 1


def test_search_page_empty_query_shows_a_message_not_a_traceback(app_env):
    at = AppTest.from_file(str(ROOT / "pages" / "search.py"), default_timeout=90).run()
    at.text_input[0].input("   ")
    at.button[0].click().run()
    assert not at.exception
    assert "type a question" in at.error[0].value
