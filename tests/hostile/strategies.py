"""Hypothesis strategies for hostile input: near-valid documents and anything JSON can carry.

Bounded sizes: the suite must stay fast; the extreme sizes (2,048 x 2,048-char failure reasons) have their own
deterministic tests.
"""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

ID_ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
#: Every Unicode scalar value except lone surrogates (which UTF-8 cannot carry), plus the nasty ones explicitly.
NASTY_CHARS = [
    "\x00",
    "\n",
    "\r",
    "\t",
    "\u202e",
    "\ufeff",
    "\u200b",
    "\U0001f600",
    "é",
    "'",
    '"',
    "\\",
    "$",
    "`",
    "%s",
]

#: Characters that free text may not carry (kbsync_contracts.FORBIDDEN_TEXT): a lone surrogate (UTF-8 cannot encode
#: it: DynamoDB and SNS refuse the request), C0/C1 controls and DEL, a noncharacter.
UNSTORABLE = ["\ud800", "\udfff", "\x00", "\n", "\r", "\x1b", "\x7f", "\x85", "\uffff"]
#: Printable text: what the contract's free-text fields accept.
printable_text = st.text(
    st.characters(codec="utf-8", exclude_categories=["Cc", "Cs"], exclude_characters="\ufffe\uffff")
)
#: Text with at least one character free text may not carry, anywhere in it.
unstorable_text = st.builds(
    lambda head, bad, tail: head + bad + tail,
    st.text(max_size=20),
    st.sampled_from(UNSTORABLE) | st.characters(categories=["Cc", "Cs"]),
    st.text(max_size=20),
)

bedrock_ids = st.text(ID_ALPHABET, min_size=10, max_size=10)
any_text = st.text(st.characters(codec="utf-8"), max_size=64) | st.sampled_from(NASTY_CHARS)
bad_ids = st.text(st.characters(codec="utf-8"), max_size=24).filter(
    lambda s: not (len(s) == 10 and s.isalnum() and s.isascii())
) | st.sampled_from(
    ["", "KB1234567", "KB123456789", "KB12345-78", "KB1234567\n", " KB1234567", "\uff2b\uff2212345678", "KB12345678\n"]
)
json_scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | any_text
json_values: st.SearchStrategy[Any] = st.recursive(
    json_scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(any_text, children, max_size=4),
    max_leaves=12,
)
triggers = st.sampled_from(["schedule", "s3", "manual"])


@st.composite
def valid_requests(draw: st.DrawFn) -> dict[str, Any]:
    request: dict[str, Any] = {"knowledgeBaseId": draw(bedrock_ids), "dataSourceId": draw(bedrock_ids)}
    request["trigger"] = draw(triggers)
    if draw(st.booleans()):
        request["reason"] = draw(
            st.text(
                st.characters(codec="utf-8", exclude_categories=["Cc"], exclude_characters="\ufffe\uffff"), max_size=500
            )
        )
    if draw(st.booleans()):
        request["requestedBy"] = draw(
            st.text(
                st.characters(codec="utf-8", exclude_categories=["Cc"], exclude_characters="\ufffe\uffff"), max_size=200
            )
        )
    return request


@st.composite
def near_valid_requests(draw: st.DrawFn) -> dict[str, Any]:
    """A valid request with one to three fields broken, dropped or added."""
    request = draw(valid_requests())
    mutations = draw(
        st.lists(
            st.sampled_from(
                ["bad_kb", "bad_ds", "bad_trigger", "drop", "extra", "long_reason", "wrong_type", "unstorable_text"]
            ),
            min_size=1,
            max_size=3,
        )
    )
    for mutation in mutations:
        if mutation == "bad_kb":
            request["knowledgeBaseId"] = draw(bad_ids)
        elif mutation == "bad_ds":
            request["dataSourceId"] = draw(bad_ids)
        elif mutation == "bad_trigger":
            request["trigger"] = draw(any_text.filter(lambda s: s not in ("schedule", "s3", "manual")))
        elif mutation == "drop":
            request.pop(draw(st.sampled_from(["knowledgeBaseId", "dataSourceId", "trigger"])), None)
        elif mutation == "extra":
            request[draw(any_text.filter(lambda s: s not in request))] = draw(json_values)
        elif mutation == "long_reason":
            request["reason"] = "r" * draw(st.integers(501, 5000))
        elif mutation == "unstorable_text":
            request[draw(st.sampled_from(["reason", "requestedBy"]))] = draw(unstorable_text)
        else:
            request[draw(st.sampled_from(list(request)))] = draw(json_values.filter(lambda v: not isinstance(v, str)))
    return request
