from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from tests.conftest import ROOT, store_env


def test_shell_shows_catalog_models_and_the_catalog_page(app_env):
    at = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=60).run()
    assert not at.exception
    assert at.sidebar.selectbox[0].value == "mini"
    assert at.sidebar.metric[0].value == "40"
    captions = " ".join(c.value for c in at.sidebar.caption)
    assert "Image search:" in captions and "model on this machine" in captions
    assert "tiny-clip" in captions and "all-minilm-l6-v2" in captions  # in "Model details"
    assert [e.label for e in at.sidebar.expander] == ["Model details"]
    assert str(app_env.db_path) not in " ".join(m.value for m in at.sidebar.markdown)
    assert at.title[0].value == "Search & Chat"  # the default page
    at.switch_page("pages/catalog.py").run()
    assert not at.exception
    assert at.title[0].value == "Catalog"
    frame = at.dataframe[0].value
    assert len(frame) == 40
    columns = {"image", "product_id", "name", "rating", "price", "list price", "discount_pct"}
    assert columns <= set(frame.columns)
    # "Price" is what the buyer pays: set wherever a sale or a list price is
    assert (frame["price"] != "–").sum() >= (frame["list price"] != "–").sum() > 0
    priced = frame[frame["discount_pct"] != "–"]["discount_pct"].str.rstrip("%").astype(int)
    assert len(priced) and priced.between(0, 100).all()  # whole per cent
    # an empty cell says what it means, never "None"
    assert not frame.isna().any().any()
    assert set(frame["rating"]) - {"not rated"} and all(
        r == "not rated" or r.endswith("★") for r in frame["rating"]
    )
    assert not any("column(s) missing" in e.label for e in at.expander)


def test_catalog_columns_and_filters_belong_to_their_catalog(app_env, tmp_path):
    from core.ingest import ingest
    from core.store import Store
    from tests.conftest import write_sample_subset

    ingest(Store(app_env.db_path), write_sample_subset(tmp_path / "second", 5), catalog="second")
    at = AppTest.from_file(str(ROOT / "pages" / "catalog.py"), default_timeout=60)
    at.session_state["catalog"] = "mini"  # what the sidebar's catalog box sets
    at.run()
    at.text_input[0].input("cable").run()
    assert not at.exception
    frame = at.dataframe[0].value
    assert "image_status" in frame.columns and "discount_pct" in frame.columns
    assert 0 < len(frame) < 40
    at.session_state["catalog"] = "second"
    at.run()
    assert at.text_input[0].value == "" and len(at.dataframe[0].value) == 5


def test_catalog_filters_narrow_the_table(app_env):
    at = AppTest.from_file(str(ROOT / "pages" / "catalog.py"), default_timeout=60).run()
    assert not at.exception
    total = len(at.dataframe[0].value)
    at.text_input[0].input("cable").run()
    names = at.dataframe[0].value["name"].tolist()
    assert 0 < len(names) < total
    assert all("cable" in n.lower() for n in names)


def test_catalog_sorts_the_whole_catalog_and_exports_every_match(app_env):
    from core.store import Store

    at = AppTest.from_file(str(ROOT / "pages" / "catalog.py"), default_timeout=60).run()
    at.selectbox(key="sort-mini").set_value("Price")
    at.segmented_control(key="order-mini").set_value("Descending").run()
    assert not at.exception
    whole = Store(app_env.db_path).products.where("mini").to_pandas()
    top = at.dataframe[0].value.iloc[0]
    assert top["product_id"] == whole.sort_values("price", ascending=False)["product_id"].iloc[0]
    at.text_input(key="name-mini").input("cable").run()
    matching = int(whole["name"].str.lower().str.contains("cable").sum())
    labels = [b.label for b in at.get("download_button")]
    assert labels == [f"Download {matching} as CSV", f"Download {matching} as Parquet"]
    assert any(f"**{matching}** of 40 products" in c.value for c in at.caption)


def test_catalog_summary_charts_describe_the_filtered_set(app_env):
    at = AppTest.from_file(str(ROOT / "pages" / "catalog.py"), default_timeout=60).run()
    assert [t.label for t in at.tabs] == ["Products", "Summary charts"]
    assert not at.tabs[1].markdown  # a closed tab costs nothing
    at.session_state["catalog-tab"] = "Summary charts"  # what a click on the tab sets
    at.run()
    titles = [m.value for m in at.tabs[1].markdown]
    assert titles[0] == "**Products by category**"
    assert titles[1].startswith("**Price distribution** (") and "Discount vs rating" in titles[3]
    assert len(at.tabs[1].get("plotly_chart")) == 4
    at.slider(key="rating-mini").set_value(4.5).run()
    rated = int(titles[2].split("(")[1].split()[0])
    narrowed = int(at.tabs[1].markdown[2].value.split("(")[1].split()[0])
    assert 0 < narrowed < rated


def test_search_page_query_gives_the_results_table_and_a_grounded_answer(app_env):
    at = AppTest.from_file(str(ROOT / "pages" / "search.py"), default_timeout=90).run()
    assert not at.exception
    at.text_input[0].input("speaker wire cable")
    at.button[0].click().run()  # the form's submit button
    assert not at.exception, at.exception
    table = at.dataframe[0].value
    assert list(table.columns) == [
        "ID", "Name", "Price", "Rating", "Constraints", "Found by", "Text similarity",
        "Image similarity", "Name has", "Identical listings",
    ]  # fmt: skip
    # one row per product: a product both indexes found is one row that says so
    assert table["ID"].is_unique and 5 <= len(table) <= 10
    assert not table.isna().any().any()  # an empty cell says what it means, never "None"
    found = " ".join(table["Found by"])
    assert "text #1" in found and "image #1" in found
    # one scale per column: cosines, measured for every hit whichever index found it
    assert table["Text similarity"].between(-1, 1).all()
    assert table["Image similarity"].between(-1, 1).all()
    assert "cable" in table["Name"].iloc[0].lower() or "wire" in table["Name"].iloc[0].lower()
    chat = at.session_state["chat"]
    assert chat[0]["content"] == "speaker wire cable" and "product_id" in chat[1]["content"]
    assert any("Grounded answer" in c.value for c in at.caption)
    # people read the answer with links to the listings, not internal keys
    shown = at.chat_message[-1].markdown[0].value
    assert "product_id" not in shown and "([#" in shown
    # why no language model wrote it is said once, not also inside the answer
    said = [c.value for c in at.caption] + [m["content"] for m in chat]
    assert sum("no LLM configured" in text for text in said) == 1
    # the per-step timings sit behind a click, under a plain total
    timing = next(e for e in at.expander if e.label.startswith("Answered in"))
    assert any("search" in c.value and "ms" in c.value for c in timing.caption)
    outside = [c.value for c in at.main.caption if c not in timing.caption]
    assert not any("load_models" in c for c in outside)


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
        # one call reads the question's constraints (JSON mode), one writes the answer
        assert len(llm.script.requests) == 2
        assert llm.script.requests[0]["response_format"] == {"type": "json_object"}
        # the answer's tokens as the server counted them, and that "openai/fake" has no
        # price in LiteLLM's map, next to its latency
        usage = next(c.value for c in at.caption if c.value.startswith("openai/fake:"))
        sent = sum(len(m["content"].split()) for m in llm.script.requests[1]["messages"])
        words = len(llm.script.reply.split())
        assert f"{sent:,} + {words} tokens" in usage and "cost unknown" in usage and " ms" in usage


def test_search_page_empty_query_shows_a_message_not_a_traceback(app_env):
    at = AppTest.from_file(str(ROOT / "pages" / "search.py"), default_timeout=90).run()
    at.text_input[0].input("   ")
    at.button[0].click().run()
    assert not at.exception
    assert "Type a question" in at.error[0].value


@pytest.fixture
def shop_env(shop_catalog, monkeypatch):
    for name, value in store_env(shop_catalog).items():
        monkeypatch.setenv(name, value)
    return shop_catalog


def _search_page(query: str) -> AppTest:
    at = AppTest.from_file(str(ROOT / "pages" / "search.py"), default_timeout=90).run()
    at.text_input[0].input(query)
    at.button[0].click().run()
    assert not at.exception, at.exception
    return at


def test_understood_constraints_are_chips_that_can_be_removed(shop_env):
    at = _search_page("boAt earphones under 1000 rupees")
    chips = at.button_group[0]
    assert chips.options == ["brand: boat", "≤ ₹1,000"] and chips.value == ["brand:boat", "price"]
    prices = at.dataframe[0].value["Price"]
    assert all(int(p.strip("₹").replace(",", "")) <= 1000 for p in prices)
    answer = at.session_state["chat"][-1]["content"]
    assert "Among products meeting brand: boat, ≤ ₹1,000" in answer
    chips.unselect("price").run()  # drop the price: the ₹1,399 and ₹1,999 boAts come back
    assert not at.exception, at.exception
    prices = at.dataframe[0].value["Price"]
    assert {"₹1,399", "₹1,999"} <= set(prices)
    chat = at.session_state["chat"]
    assert len(chat) == 2 and "≤ ₹1,000" not in chat[-1]["content"]  # re-answered in place


def test_follow_ups_are_visible_and_can_be_searched_alone_and_chat_clears(shop_env):
    at = _search_page("sony headphones")
    clear = next(b for b in at.button if b.label == "Clear chat")
    assert not clear.disabled  # usable after the first question
    at.text_input[0].input("keyboard")
    at.button[0].click().run()
    assert "Logitech" in at.dataframe[0].value["Name"].iloc[0]  # not glued to "sony …"
    at.text_input[0].input("under ₹1000?")
    at.button[0].click().run()
    assert any('continues "keyboard"' in i.value for i in at.info)
    alone = next(b for b in at.button if b.label.startswith('Search "under ₹1000?" alone'))
    alone.click().run()
    assert not at.exception and not any("continues" in i.value for i in at.info)
    assert len(at.session_state["chat"]) == 6
    next(b for b in at.button if b.label == "Clear chat").click().run()
    assert at.session_state["chat"] == [] and not at.dataframe
    assert at.text_input[0].value == ""  # the old question is gone from the box


def test_cheaper_ones_are_cheaper_than_everything_shown(shop_env):
    at = _search_page("sony headphones")
    shown = [int(p.strip("₹").replace(",", "")) for p in at.dataframe[0].value["Price"]]
    at.text_input[0].input("cheaper ones")
    at.button[0].click().run()
    assert not at.exception, at.exception
    chips = at.button_group[0].options
    assert any(c.startswith(f"cheaper than ₹{min(shown):,}") for c in chips)
    if at.dataframe and not at.warning:  # results that meet it, else marked alternatives
        prices = [int(p.strip("₹").replace(",", "")) for p in at.dataframe[0].value["Price"]]
        assert all(p < min(shown) for p in prices)


def test_a_catalog_without_images_says_so_once(shop_env):
    at = _search_page("red headphones")
    notices = [i.value for i in at.info] + [w.value for w in at.warning]
    assert sum("no product images" in n for n in notices) == 1
    assert "judged mainly by how it looks" not in at.session_state["chat"][-1]["content"]


def test_nothing_matching_is_said_plainly(shop_env):
    at = _search_page("WH-1000XM4")
    assert any("Nothing in the catalog meets every constraint" in w.value for w in at.warning)
    assert at.session_state["chat"][-1]["content"].startswith("Nothing in the catalog that")


def test_price_and_rating_filters_are_number_inputs_in_the_catalog_currency(shop_env):
    at = AppTest.from_file(str(ROOT / "pages" / "search.py"), default_timeout=90).run()
    labels = {n.label: n for n in at.number_input}
    assert {"Min price (₹)", "Max price (₹)", "Min rating (★)"} <= set(labels)
    assert labels["Max price (₹)"].step == 100 and labels["Min rating (★)"].step == 0.5
    labels["Max price (₹)"].set_value(1000)
    at.text_input[0].input("earphones")
    at.button[0].click().run()
    prices = at.dataframe[0].value["Price"]
    assert all(int(p.strip("₹").replace(",", "")) <= 1000 for p in prices)
    # what was set in Filters is a chip too, and clicking it away searches without it
    chips = at.button_group[0]
    assert "≤ ₹1,000 · Filters" in chips.options and "set:max_price" in chips.value
    chips.unselect("set:max_price").run()
    assert not at.exception, at.exception
    prices = at.dataframe[0].value["Price"]
    assert any(int(p.strip("₹").replace(",", "")) > 1000 for p in prices)


def test_a_photo_query_shows_the_photo_and_is_answered(app_env):
    from pathlib import Path

    from core.store import Store

    photo = next(
        p["image_path"] for p in Store(app_env.db_path).products.where("mini").to_pylist()
        if p["image_status"] == "ok"
    )  # fmt: skip
    at = AppTest.from_file(str(ROOT / "pages" / "search.py"), default_timeout=90)
    # what "Find products that look like this" on the Embedding map hands over
    at.session_state["photo_query"] = {"image": Path(photo).read_bytes(), "name": "my-photo.jpg"}
    at.run()
    assert not at.exception, at.exception
    assert "Your photo: my-photo.jpg" in _image_captions(at)
    answer = at.session_state["chat"][-1]["content"]
    assert "looks like your photo" in answer  # a photo alone is answered, by appearance
    assert at.session_state["chat"][0]["content"] == "(a photo: my-photo.jpg)"


def _image_captions(at: AppTest) -> list[str]:
    return [img.caption for e in at.main if e.type == "image" for img in e.proto.imgs]


def test_people_using_the_app_get_no_deploy_button_or_developer_menu():
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+

    config = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    assert config["client"]["toolbarMode"] == "minimal"  # the browser test checks the page
    assert config["server"]["fileWatcherType"] == "none"  # no tree walk while a page loads
    assert config["runner"]["postScriptGC"] is False  # no full collection after every click


def test_the_example_question_speaks_the_catalogs_brands_and_currency(app_env):
    at = AppTest.from_file(str(ROOT / "pages" / "search.py"), default_timeout=90).run()
    example = at.text_input[0].placeholder
    assert example.startswith("e.g. ") and "$" in example and "₹" not in example


def test_a_filter_with_one_choice_is_said_not_offered(shop_env):
    at = AppTest.from_file(str(ROOT / "pages" / "catalog.py"), default_timeout=60).run()
    assert not at.exception, at.exception
    offered = [m.label for m in at.multiselect]
    assert "Image status" not in offered  # no product here has a photo
    said = " ".join(c.value for c in at.caption)
    assert "**Image status:** missing (every product)" in said


def test_example_questions_in_the_catalogs_terms_are_asked_with_a_click(app_env):
    at = AppTest.from_file(str(ROOT / "pages" / "search.py"), default_timeout=90).run()
    offered = at.button_group[0]
    assert offered.label == "Try" and len(offered.options) == 3
    assert any("$" in question for question in offered.options)  # the sample is in dollars
    first = offered.options[0]
    offered.set_value(first).run()
    assert not at.exception, at.exception
    assert at.text_input[0].value == first  # the box shows what was asked
    assert at.session_state["chat"][0]["content"] == first and len(at.dataframe) == 1
    assert not [g for g in at.button_group if g.label == "Try"]  # asked: no longer offered
