from __future__ import annotations

from fhir_adapter.mapping.sequence import ordered_pairs, segments


def test_followed_by_orders_interventions_by_the_segment_they_appear_in() -> None:
    names = ["Pembrolizumab plus FOLFOX", "Stereotactic body radiotherapy"]
    text = "Stereotactic body radiotherapy followed by pembrolizumab with FOLFOX for liver metastases"
    assert ordered_pairs(names, [text]) == {(1, 0)}


def test_after_reverses_the_order() -> None:
    names = ["Surgery", "Capecitabine"]
    assert ordered_pairs(names, ["Capecitabine after surgery"]) == {(0, 1)}


def test_regimen_components_count_as_mentions() -> None:
    names = ["XELOX", "Long-course chemoradiation"]
    text = "Long-course chemoradiation, then capecitabine and oxaliplatin."
    assert ordered_pairs(names, [text]) == {(1, 0)}


def test_contradicting_texts_give_no_order() -> None:
    names = ["Drug Alpha", "Drug Beta"]
    texts = ["Alpha followed by Beta.", "Beta followed by Alpha."]
    assert ordered_pairs(names, texts) == set()


def test_no_marker_or_no_distinct_segment_gives_no_order() -> None:
    names = ["Drug Alpha", "Drug Beta"]
    assert ordered_pairs(names, ["Alpha and Beta together every 3 weeks."]) == set()
    assert ordered_pairs(names, ["Alpha with Beta, followed by surgery."]) == set()


def test_segments_split_on_markers() -> None:
    assert segments("A then B then C") == ["A ", " B ", " C"]
    assert segments("X after Y") == [" Y", "X "]
