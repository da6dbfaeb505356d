"""A Streamlit session driven over the app's own websocket protocol, the way a browser
drives it: connect to `/_stcore/stream`, ask for a script run with a page and widget
values, read the ForwardMsgs until the run finishes. No browser: dozens of sessions fit
on two cores, so the server, not the clients, is what a load test measures.

`AppSession.run` returns what the run drew (its text, alerts, exceptions, widgets) and how
long it took. Widgets are found by label in the last run's elements and set by id, as the
front end does; a widget not sent keeps its default, which is what a fresh page shows.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

# Element kinds whose text a person reads, and the field that holds it.
_TEXT_FIELDS = {
    "markdown": "body", "text": "body", "heading": "body", "alert": "body",
    "code": "code_text", "exception": "message", "metric": "body",
}  # fmt: skip
ERROR_ALERT = 1  # Alert.Format.ERROR


@dataclass
class RunResult:
    seconds: float
    texts: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)  # st.error bodies
    exceptions: list[str] = field(default_factory=list)  # tracebacks a person would see
    widgets: dict[str, Any] = field(default_factory=dict)  # label → widget proto
    tables: list[list[dict[str, Any]]] = field(default_factory=list)  # st.dataframe rows
    metrics: dict[str, str] = field(default_factory=dict)  # st.metric label → value
    status: str = ""

    @property
    def text(self) -> str:
        return "\n".join(self.texts)


class AppSession:
    """One browser tab's session, opened on connect and closed by `close`."""

    def __init__(self, url: str, timeout_s: float = 120) -> None:
        import websocket

        self.timeout_s = timeout_s
        ws_url = url.replace("http://", "ws://").rstrip("/") + "/_stcore/stream"
        self._ws = websocket.create_connection(
            ws_url, timeout=timeout_s, subprotocols=["streamlit"]
        )
        self.pages: dict[str, str] = {}  # page title → page_script_hash
        # Values set so far, re-sent on every run as the front end does (a widget whose
        # value is not sent falls back to its default); a button's press is sent once.
        self._values: dict[str, bytes] = {}
        self.last: RunResult | None = None

    def close(self) -> None:
        self._ws.close()

    def __enter__(self) -> AppSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def run(self, page: str | None = None, widgets: dict[str, Any] | None = None) -> RunResult:
        """Run the script on `page` (a title; the current one when None) with `widgets`
        ({label: value}; a value of True for a button presses it)."""
        from streamlit.proto.BackMsg_pb2 import BackMsg
        from streamlit.proto.WidgetStates_pb2 import WidgetState

        message = BackMsg()
        state = message.rerun_script
        state.SetInParent()  # an empty rerun request must still be sent as one
        if page is not None:
            state.page_script_hash = self.pages[page]
        pressed = []
        for label, value in (widgets or {}).items():
            widget_state = WidgetState()
            _set_widget(widget_state, self._widget(label), value)
            if widget_state.HasField("trigger_value"):
                pressed.append(widget_state)
            else:
                self._values[widget_state.id] = widget_state.SerializeToString()
        for serialized in self._values.values():
            state.widget_states.widgets.add().ParseFromString(serialized)
        state.widget_states.widgets.extend(pressed)
        started = time.perf_counter()
        self._ws.send_binary(message.SerializeToString())
        result = self._read_run()
        result.seconds = round(time.perf_counter() - started, 3)
        self.last = result
        return result

    def _widget(self, label: str) -> Any:
        if self.last is None or label not in self.last.widgets:
            raise KeyError(f"no widget labelled {label!r} on the page")
        return self.last.widgets[label]

    def _read_run(self) -> RunResult:
        from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

        result = RunResult(seconds=0.0)
        deadline = time.monotonic() + self.timeout_s
        while time.monotonic() < deadline:
            message = ForwardMsg()
            message.ParseFromString(self._ws.recv())
            kind = message.WhichOneof("type")
            if kind == "navigation":
                self.pages = {p.page_name: p.page_script_hash for p in message.navigation.app_pages}
            elif kind == "delta" and message.delta.WhichOneof("type") == "new_element":
                _read_element(message.delta.new_element, result)
            elif kind == "script_finished":
                status = ForwardMsg.ScriptFinishedStatus.Name(message.script_finished)
                if status != "FINISHED_EARLY_FOR_RERUN":  # st.rerun: the next run follows
                    result.status = status
                    return result
                result = RunResult(seconds=0.0)
        raise TimeoutError(f"the script did not finish within {self.timeout_s:.0f} s")


def _read_element(element: Any, result: RunResult) -> None:
    kind = element.WhichOneof("type")
    if kind in _TEXT_FIELDS:
        text = getattr(getattr(element, kind), _TEXT_FIELDS[kind])
        result.texts.append(text)
        if kind == "alert" and element.alert.format == ERROR_ALERT:
            result.errors.append(text)
        if kind == "metric":
            result.metrics[element.metric.label] = text
        if kind == "exception":
            result.exceptions.append(f"{element.exception.type}: {text}")
    elif kind == "dataframe":
        result.tables.append(_arrow_rows(element.dataframe.arrow_data.data))
    elif kind is not None:
        widget = getattr(element, kind)
        label = getattr(widget, "label", None)
        if label and getattr(widget, "id", None):
            result.widgets[label] = widget
        if kind == "button_group":  # pills: what they say is part of the page's text
            result.texts.append(f"{label}: " + " | ".join(o.content for o in widget.options))


def _arrow_rows(data: bytes) -> list[dict[str, Any]]:
    import pyarrow as pa

    return pa.ipc.open_stream(data).read_all().to_pylist()


def _set_widget(state: Any, widget: Any, value: Any) -> None:
    """A widget's value in the field its kind reads (as the front end fills it)."""
    state.id = widget.id
    kind = widget.DESCRIPTOR.name
    if kind == "Button":
        state.trigger_value = bool(value)
    elif kind in ("TextInput", "TextArea"):
        state.string_value = str(value)
    elif kind == "NumberInput":
        state.double_value = float(value)
    elif kind == "Checkbox":  # toggles too
        state.bool_value = bool(value)
    elif kind == "Selectbox":
        state.string_value = str(value)
    else:
        raise TypeError(f"setting a {kind} is not supported here")


def open_session(url: str, timeout_s: float = 120) -> AppSession:
    """A session with its page drawn once, as a browser tab that has loaded it."""
    session = AppSession(url, timeout_s=timeout_s)
    first = session.run()
    assert not first.exceptions and not first.errors, (first.exceptions, first.errors)
    return session


def search_for(session: AppSession, query: str, **widgets: Any) -> RunResult:
    """Type `query` into Search & Chat (other `widgets` set too, by label) and press Search."""
    return session.run(widgets={"Ask or search": query, "Search": True, **widgets})


def found_products(result: RunResult) -> bool:
    """The run drew a results table with rows, and no error or traceback."""
    return not result.exceptions and not result.errors and bool(result.tables and result.tables[0])


def one_line_error(result: RunResult) -> str:
    """The one error line a failure must be shown as (no traceback, no backend internals)."""
    assert not result.exceptions, result.exceptions
    assert len(result.errors) == 1, result.errors
    message = result.errors[0]
    assert "\n" not in message.strip() and len(message) < 300, message
    assert "Traceback" not in message and ".rs:" not in message
    return message
