"""The compiler's vocabulary (``mappings/criteria_phrases.yaml``) turned into regular expressions."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from typing import TypeVar

from fhir_adapter.criteria.model import Comparator, Qualifier
from fhir_adapter.criteria.patterns import compile_phrases, phrase_needles, phrase_pattern
from fhir_adapter.criteria.phrase_tables import (
    abbreviation_end,
    abbreviation_sense,
    by_name,
    dose_reference,
    except_words,
    right_after,
    route_words,
    routes,
    topic_groups,
    trial_time_point,
    word_list,
)
from fhir_adapter.criteria.topic_table import CategoryHint, Topic, TopicFilter
from fhir_adapter.mappings import load_table

_NEVER = re.compile(r"(?!)")


@dataclass(frozen=True)
class Phrases:
    headings: dict[str, frozenset[str]]
    heading_keywords: tuple[tuple[str, re.Pattern[str]], ...]
    heading_max_words: int
    subheading_max_words: int
    comparators: tuple[tuple[Comparator, str], ...]
    """(comparator, phrase) pairs, longest phrase first."""
    comparator_re: str
    postfix_re: str
    postfix_comparators: dict[str, Comparator]
    prefix_comparators: dict[str, Comparator]
    range_separator_re: str
    range_opener_re: str
    uln_re: str
    lln_re: str
    multiple_words: tuple[str, ...]
    time_units: dict[str, float]
    """Days per time unit (a fraction for hours)."""
    time_unit_re: str
    window_opener_re: str
    window_closer_re: str
    qualifiers: tuple[tuple[Qualifier, re.Pattern[str]], ...]
    negation: re.Pattern[str]
    postfix_negation: re.Pattern[str]
    result_negation: re.Pattern[str]
    negative_result_after: re.Pattern[str]
    """A verb and a negative result after a test ("pregnancy test must be negative")."""
    """A result word at most three words before the end of the text before a test ("negative serum or urine ")."""
    list_connector: frozenset[str]
    modifier: re.Pattern[str]
    except_words: re.Pattern[str]
    conditional: re.Pattern[str]
    age_words: re.Pattern[str]
    age_units: frozenset[str]
    score_scales: dict[str, tuple[float, float]]
    topics: tuple[Topic, ...]
    category_hints: tuple[CategoryHint, ...]
    permission: re.Pattern[str] = _NEVER
    lab_condition: re.Pattern[str] = _NEVER
    min_elapsed: re.Pattern[str] = _NEVER
    site_specific_concepts: frozenset[str] = frozenset()
    site_specific_nouns: frozenset[str] = frozenset()
    generic_modifiers: frozenset[str] = frozenset()
    allergy_words: re.Pattern[str] = _NEVER
    medication_use: re.Pattern[str] = _NEVER
    """ "use of", "taking": between an allergy and a drug, the drug is one the patient uses."""
    any_qualifier: re.Pattern[str] = re.compile("")
    """Any qualifier word (a quick test before trying the qualifiers one by one)."""
    any_topic: re.Pattern[str] = re.compile("")
    """Any word of any topic (a quick test before trying the topics one by one)."""
    except_plain: re.Pattern[str] = _NEVER
    """The exception words alone (``except_words`` without its look-ahead; see :func:`search_exception`)."""
    topic_filter: TopicFilter = field(default_factory=lambda: TopicFilter({}, frozenset(), ()))
    """Which topics a text's words allow (a quick test before trying their regexes)."""
    neutral_before_finding: frozenset[str] = frozenset()
    test_results: frozenset[str] = frozenset()
    exception_nouns: frozenset[str] = frozenset()
    alternative_openers: tuple[str, ...] = ()
    number_words: dict[str, int] = field(default_factory=dict)
    clause_verbs: frozenset[str] = frozenset()
    cohort_nouns: frozenset[str] = frozenset()
    any_kind_words: frozenset[str] = frozenset()
    cohort_neutral_words: frozenset[str] = frozenset()
    subordinate_words: frozenset[str] = frozenset()
    site_stop_words: frozenset[str] = frozenset()
    site_probe_nouns: tuple[str, ...] = ()
    criterion_if: re.Pattern[str] = _NEVER
    substance_test: re.Pattern[str] = _NEVER
    about_the_finding: re.Pattern[str] = _NEVER
    about_the_procedure: re.Pattern[str] = _NEVER
    about_the_drug: re.Pattern[str] = _NEVER
    about_the_test: re.Pattern[str] = _NEVER
    risk_of_finding: re.Pattern[str] = _NEVER
    exposure_to_finding: re.Pattern[str] = _NEVER
    vaccine_words: re.Pattern[str] = _NEVER
    """ "live vaccines (e.g., measles, mumps, yellow fever)": a vaccine word whose examples name the vaccines."""
    planned_procedure_before: re.Pattern[str] = _NEVER
    """ "undergoing", "requiring", "scheduled for" before a one-off procedure of an inclusion: the one to come."""
    one_off_procedure: re.Pattern[str] = _NEVER
    """Words of a one-off procedure's own name ("knee replacement", "mastectomy"), not an ongoing one ("dialysis")."""
    exemption: re.Pattern[str] = _NEVER
    """A permission whose subject follows it ("not applicable to patients with ...")."""
    permitted_before: re.Pattern[str] = _NEVER
    candidacy_before: re.Pattern[str] = _NEVER
    untreated_before: re.Pattern[str] = _NEVER
    """ "untreated" right before a finding (with at most one word between)."""
    in_situ_after: re.Pattern[str] = _NEVER
    abbreviation_senses: tuple[tuple[str, str, re.Pattern[str], str], ...] = ()
    """(abbreviation, concept when one of the words follows, the words, the other concept): "ASA I-II" / "ASA"."""
    """ "in situ" right after a cancer's name."""
    in_situ_concept: str = ""
    """Words before a treatment that make the patient a candidate for it ("criteria for bariatric surgery")."""
    """ "may have received", "can be corrected by": a permitted treatment, or a way to reach a value."""
    suspicion_before: re.Pattern[str] = _NEVER
    """ "suspected", "presumed": a suspicion of the finding that follows, not its diagnosis."""
    confirmed_alternative: re.Pattern[str] = _NEVER
    """ "or confirmed", "or proven": the diagnosis written as an alternative of its suspicion."""
    restrictive_clause: re.Pattern[str] = _NEVER
    """A clause right after a finding that restricts it ("requiring dialysis", "that required steroids")."""
    route_before: re.Pattern[str] = _NEVER
    """Route words right before a drug ("intravenous iron", "oral or IV antibiotics"), ending at the drug."""
    threshold_subject: re.Pattern[str] = _NEVER
    """Words after a threshold that name the patients it (or another limit) applies to ("unless", "for patients
    who")."""
    grading_scales: frozenset[str] = frozenset()
    """Scores that grade a finding ("Heart failure, NYHA III/IV"): after it with only a comma, they define it."""
    use_after: re.Pattern[str] = _NEVER
    """A use noun right after a drug ("anticoagulant use"), to be matched at the drug's end."""
    use_before: re.Pattern[str] = _NEVER
    """A use noun ending the words before a drug ("use of warfarin", "Anticoagulant use (warfarin")."""
    recency: re.Pattern[str] = _NEVER
    """Words of a recent time with no length ("recently received chemotherapy")."""
    past_words: re.Pattern[str] = _NEVER
    """Words of the past anywhere in an item ("previous", "received"): a drug named there is not current use."""
    treatment_of_finding: re.Pattern[str] = _NEVER
    """Treatment words ending right before a finding ("therapy for their melanoma", "treated for TB")."""
    dosing_word: re.Pattern[str] = _NEVER
    dosing_before: re.Pattern[str] = _NEVER
    """A dose or duration word before a drug ("high-dose steroids", "long-term use of NSAIDs"), up to the drug."""
    route_lead: re.Pattern[str] = _NEVER
    """Route words that open a drug's name ("iv iron" is a synonym of the iron preparations)."""
    local_routes: frozenset[str] = frozenset()
    """The route words of local use ("intranasal", "topical"): not a systemic-only class's use."""
    prevention_of_finding: re.Pattern[str] = _NEVER
    interaction_with_drug: re.Pattern[str] = _NEVER
    response_to_treatment: re.Pattern[str] = _NEVER
    unknown_status_before: re.Pattern[str] = _NEVER
    future_reference: re.Pattern[str] = _NEVER
    mother_before: re.Pattern[str] = _NEVER
    manifestation_before: re.Pattern[str] = _NEVER
    other_pressure_before: re.Pattern[str] = _NEVER
    """Right after a time window, words that place it after the trial's treatment ("within 4 months *after the final
    dose*"): no look-back."""
    other_person_before: re.Pattern[str] = _NEVER
    dose_change_before: re.Pattern[str] = _NEVER
    change_before_test: re.Pattern[str] = _NEVER
    change_after_test: re.Pattern[str] = _NEVER
    dose_reference_before: re.Pattern[str] = _NEVER
    contraindication_before: re.Pattern[str] = _NEVER
    test_nouns: re.Pattern[str] = _NEVER
    positive_results: re.Pattern[str] = _NEVER
    disqualifying: re.Pattern[str] = _NEVER
    disqualifying_after: re.Pattern[str] = _NEVER
    """ "are relative contraindications" after the concepts of its sentence, among the inclusions."""
    participant_roles: re.Pattern[str] = _NEVER
    permission_conditions: re.Pattern[str] = _NEVER
    """ "pending assessment", "at the discretion of": a permission that is only conditional."""
    setting_markers: re.Pattern[str] = _NEVER
    """ "in", "undergoing" right before a procedure in a trial's title: the trial's setting (criteria/setting.py)."""
    past_markers: re.Pattern[str] = _NEVER
    """ "prior", "history of", "after": an atom that places its procedure in the past."""
    relative_markers: re.Pattern[str] = _NEVER
    """ "family history of", "a first degree relative who": a relative's finding (see ``relative_markers``)."""
    personal_history: re.Pattern[str] = _NEVER
    """ "personal or family history": the patient's own history is named too."""
    """ "maternal", "infant", "caregiver": a heading word naming the kind of participant its criteria are for."""
    manifestation: re.Pattern[str] = _NEVER
    """ "manifested as", "characterized by" after a finding: what follows describes it."""
    treatment_purpose: re.Pattern[str] = _NEVER
    """ "for" right after a treatment: its purpose ("radiation for palliative intent")."""
    restrictive_with: re.Pattern[str] = _NEVER
    """ "with" right after a finding: the restriction that follows ("diabetes with microalbuminuria")."""
    cause_markers: re.Pattern[str] = _NEVER
    """ "caused by", "due to": the concepts after them are causes (see ``cause_markers``)."""
    """ "risk of", "predispose to" right before a finding: a risk of the finding, not the finding."""
    above_normal: re.Pattern[str] = _NEVER
    below_normal: re.Pattern[str] = _NEVER
    """ "excluded if", "eligible if", "if applicable": an "if" that states the criterion, not a condition on it."""
    count_re: re.Pattern[str] = _NEVER
    neutral_context: re.Pattern[str] = _NEVER
    example_markers: re.Pattern[str] = _NEVER
    """ "e.g.", "such as", "including": what follows are examples of the class named before."""
    note_markers: re.Pattern[str] = _NEVER
    restating_negation: re.Pattern[str] = _NEVER
    """In an exclusion, a negation that restates it ("must not have received X"): X excludes."""
    washout: re.Pattern[str] = _NEVER
    """Right after a treatment, words that ask it to have ended ("must have been completed"): a washout."""
    not_exception: re.Pattern[str] = _NEVER
    negated_comparator: re.Pattern[str] = _NEVER
    """Comparators written with "no"/"not" ("no less than 20 transfusions", "not more than"): no negation."""
    """Phrases with "not" that introduce examples ("including, but not limited to"): no negation."""
    procedure_statement: re.Pattern[str] = _NEVER
    """What the study will do ("a pregnancy test will be performed"): a note, not a criterion."""
    explanation_markers: re.Pattern[str] = _NEVER
    trial_time_point: re.Pattern[str] = _NEVER
    """A point of the trial's own treatment ("first dose of study drug", "start of the study"): a time, not a
    statement about trials."""
    current_time: re.Pattern[str] = _NEVER
    """A trial event that only dates a present state ("non-pregnant at time of enrollment", "ECOG 0-1 at
    screening"): the state now, not a time relative to the trial."""
    evidence_phrases: re.Pattern[str] = _NEVER
    definition_lead: re.Pattern[str] = _NEVER
    generic_head_nouns: frozenset[str] = frozenset()
    """Nouns that end a concept's name after its spelled-out abbreviation ("HIV (...) infection")."""
    """A lead-in's last words that make the findings after its colon the definition of its own ("... criteria:")."""
    """After a finding, words that say how it is shown ("as determined by", "confirmed by")."""
    citation_year: re.Pattern[str] = _NEVER
    """A year that names an edition of criteria or a classification ("the 2018 revised iwCLL guidelines",
    "ACR/EULAR 2010 criteria"), not a calendar period."""
    """A parenthesis that gives the reason for the criterion ("(risk for poor adherence)"): a note."""
    """ "Note:", "(Note that ...)": an explanation inside an item, not a criterion."""
    withdrawn: re.Pattern[str] = _NEVER
    """ "retained for historical reference": a section that no longer applies."""
    subject_markers: re.Pattern[str] = _NEVER
    """ "patients with", "subjects who have": the patients a requirement applies to."""
    requirement_modals: re.Pattern[str] = _NEVER
    criterion_statement: re.Pattern[str] = _NEVER
    """ "be excluded", "not be eligible" right after "patients with X must": the sentence states the criterion."""
    subordinate: re.Pattern[str] = _NEVER
    """ "which", "unless", "if": a clause of its own between a concept and a permission."""
    abbreviation_end: re.Pattern[str] = _NEVER
    """A text ending in an abbreviation ("e.g", "vs") or a single letter, whose full stop ends no sentence."""
    proper_names: re.Pattern[str] = _NEVER
    name_nouns: frozenset[str] = frozenset()
    """Nouns that end a capitalised name of an instrument ("Scale"): concepts before them belong to the name."""
    organisation_nouns: frozenset[str] = frozenset()
    """Nouns of organisations' names ("Institute", "Group"): concepts before or after them belong to the name."""
    """Organisations, classifications, equations and instruments named with a disease word ("MDRD")."""
    stage_pair: re.Pattern[str] = _NEVER
    """ "advanced or ": a stage adjective joined to another one that follows."""
    shared_head_words: frozenset[str] = frozenset()
    """Organ and system words that can share the noun after a list ("heart, liver or kidney disease")."""
    shared_head_nouns: frozenset[str] = frozenset()
    """Right before a concept: "caused by", "during", "with or without" (see ``neutral_context``)."""
    """A count of treatments or lesions ("2 prior lines", ">= 5 lines of chemotherapy", "no more than 5
    metastases"): FHIR data cannot count lines of therapy."""


def search_exception(vocab: Phrases, text: str) -> re.Match[str] | None:
    """``vocab.except_words.search(text)``, quicker: the exception words alone, then the phrases that are no
    exception ("but not limited to") only where one is found (the combined pattern tries its negative look-ahead,
    a large alternation, at every character)."""
    pos = 0
    while (found := vocab.except_plain.search(text, pos)) is not None:
        if not vocab.not_exception.match(text, found.start()):
            return found
        pos = found.start() + 1
    return None


_MEMO_SIZE = 4096
_T = TypeVar("_T")


def remembered(vocab: Phrases, name: str, text: str, read: Callable[[str, Phrases], _T]) -> _T:
    """``read(text, vocab)``, remembered on the vocabulary by text in a bounded memo per reading (``name``): half
    the qualifier and negation readings repeat a text (a concept's phrase, the words before a head)."""
    memo: dict[str, _T] = vars(vocab).setdefault(f"_remembered_{name}", {})
    if text in memo:
        return memo[text]
    if len(memo) >= _MEMO_SIZE:
        memo.clear()  # a service reads arbitrary texts
    found = memo[text] = read(text, vocab)
    return found


@cache
def phrases() -> Phrases:
    """The vocabulary, loaded once."""
    t = load_table("criteria_phrases")
    site_heads = dict(t.get("site_specific_heads") or {})
    comparators = by_name(t, "comparators")
    prefix: dict[str, Comparator] = {}
    for comp, words in comparators.items():
        for w in words:
            prefix[w] = comp  # type: ignore[assignment]
    postfix: dict[str, Comparator] = {}
    for comp, words in by_name(t, "postfix_comparators").items():
        for w in words:
            postfix[w] = comp  # type: ignore[assignment]
    time_units = {str(k).lower(): float(v) for k, v in dict(t["time_units"]).items()}
    topics = tuple(
        Topic(
            reason=str(entry["reason"]),
            groups=tuple(compile_phrases(g) for g in entry["all_of"])
            if "all_of" in entry
            else (compile_phrases(entry["any_of"]),),
            on_threshold=str(entry.get("on_threshold", "refuse")),
            on_presence=str(entry.get("on_presence", "refuse")),
            on_absence=str(entry.get("on_absence", "refuse")),
            unless_allergy=bool(entry.get("unless_allergy", False)),
            window_ok=bool(entry.get("window_ok", False)),
            near_head=str(entry.get("near_head", "")),
            unless_named_drug=bool(entry.get("unless_named_drug", False)),
            residue_categories=tuple(str(c) for c in entry.get("residue_categories", ())),
            residue_if=compile_phrases([str(w) for w in entry["residue_if_words"]])
            if "residue_if_words" in entry
            else None,
            needles=tuple(phrase_needles(g) for g in topic_groups(entry)),
        )
        for entry in t["not_computable"]
    )
    hints = tuple(
        CategoryHint(category=entry["category"], pattern=re.compile("|".join(re.escape(w) for w in entry["any_of"])))
        for entry in t["category_hints"]
    )
    return Phrases(
        headings={kind: frozenset(words) for kind, words in by_name(t, "headings").items()},
        heading_keywords=tuple(
            (kind, compile_phrases(words)) for kind, words in by_name(t, "heading_keywords").items()
        ),
        heading_max_words=int(t["heading_max_words"]),
        subheading_max_words=int(t["subheading_max_words"]),
        comparators=tuple(sorted(((c, w) for w, c in prefix.items()), key=lambda cw: -len(cw[1]))),
        comparator_re=phrase_pattern(prefix),
        postfix_re=phrase_pattern(postfix),
        postfix_comparators=postfix,
        prefix_comparators=prefix,
        range_separator_re=phrase_pattern(word_list(t, "range_separators")),
        range_opener_re=phrase_pattern(word_list(t, "range_openers")),
        uln_re=phrase_pattern(word_list(t, "uln_phrases")),
        lln_re=phrase_pattern(word_list(t, "lln_phrases")),
        multiple_words=tuple(word_list(t, "multiple_words")),
        time_units=time_units,
        time_unit_re=phrase_pattern(time_units),
        window_opener_re=phrase_pattern(word_list(t, "window_openers")),
        window_closer_re=phrase_pattern(word_list(t, "window_closers")),
        qualifiers=tuple((q, compile_phrases(words)) for q, words in by_name(t, "qualifiers").items()),  # type: ignore[misc]
        negation=compile_phrases(word_list(t, "negations")),
        postfix_negation=compile_phrases(word_list(t, "postfix_negations")),
        result_negation=re.compile(
            rf"(?:{phrase_pattern(word_list(t, 'result_negations'))})(?:[\s,/()]+[\w-]+){{0,3}}[\s,/()]*$",
            re.IGNORECASE,
        ),
        negative_result_after=re.compile(
            rf"\s*(?:{phrase_pattern(word_list(t, 'negative_result_verbs'))})\s+"
            rf"(?:{phrase_pattern(word_list(t, 'result_negations'))})",
            re.IGNORECASE,
        ),
        list_connector=frozenset(word_list(t, "list_connectors")),
        modifier=compile_phrases(word_list(t, "modifier_words")),
        except_words=except_words(t),
        except_plain=compile_phrases(word_list(t, "except_words")),
        criterion_statement=re.compile(r"\s*(?:" + phrase_pattern(word_list(t, "criterion_statements")) + ")", re.I),
        subordinate=compile_phrases(word_list(t, "subordinate_words")),
        abbreviation_end=abbreviation_end(t),
        conditional=compile_phrases(word_list(t, "conditional_markers")),
        age_words=compile_phrases(word_list(t, "age_words")),
        age_units=frozenset(word_list(t, "age_units")),
        score_scales={str(k): (float(v[0]), float(v[1])) for k, v in dict(t["score_scales"]).items()},
        topics=topics,
        category_hints=hints,
        permission=compile_phrases([*word_list(t, "permission_markers"), *word_list(t, "exemption_markers")]),
        exemption=compile_phrases(word_list(t, "exemption_markers")),
        lab_condition=compile_phrases(word_list(t, "lab_condition_markers")),
        # "no more than two weeks prior" is an upper bound: a window, not a minimum
        min_elapsed=re.compile(
            r"(?<!\bno )(?<!\bnot )(?:" + phrase_pattern(word_list(t, "min_elapsed_markers")) + r")\s*$", re.IGNORECASE
        ),
        site_specific_concepts=frozenset(word_list(site_heads, "concepts")),
        site_specific_nouns=frozenset(word_list(site_heads, "nouns")),
        generic_modifiers=frozenset(word_list(site_heads, "generic_modifiers")),
        allergy_words=compile_phrases(word_list(t, "allergy_words")),
        medication_use=compile_phrases(word_list(t, "medication_use_words")),
        neutral_before_finding=frozenset(word_list(t, "neutral_before_finding")),
        test_results=frozenset(word_list(t, "test_results")),
        exception_nouns=frozenset(word_list(t, "exception_nouns")),
        alternative_openers=tuple(word_list(t, "alternative_openers")),
        number_words={str(k).lower(): int(v) for k, v in dict(t["number_words"]).items()},
        clause_verbs=frozenset(word_list(t, "clause_verbs")),
        cohort_nouns=frozenset(word_list(t, "cohort_nouns")),
        any_kind_words=frozenset(word_list(t, "any_kind_words")),
        cohort_neutral_words=frozenset(word_list(t, "cohort_neutral_words")),
        subordinate_words=frozenset(word_list(t, "subordinate_words")),
        site_stop_words=frozenset(word_list(t, "site_stop_words")),
        site_probe_nouns=tuple(word_list(t, "site_probe_nouns")),
        criterion_if=compile_phrases(word_list(t, "criterion_if")),
        substance_test=compile_phrases(word_list(t, "substance_test_context")),
        about_the_finding=right_after(word_list(t, "about_the_finding")),
        about_the_procedure=right_after(word_list(t, "about_the_procedure")),
        about_the_drug=right_after(word_list(t, "about_the_drug")),
        about_the_test=right_after(word_list(t, "about_the_test")),
        risk_of_finding=compile_phrases(word_list(t, "risk_of_finding")),
        exposure_to_finding=compile_phrases(word_list(t, "exposure_to_finding")),
        vaccine_words=compile_phrases(word_list(t, "vaccine_words")),
        planned_procedure_before=compile_phrases(word_list(t, "planned_procedure_before")),
        one_off_procedure=re.compile("|".join(re.escape(w) for w in word_list(t, "one_off_procedure_words"))),
        permitted_before=compile_phrases(word_list(t, "permitted_before")),
        candidacy_before=compile_phrases(word_list(t, "candidacy_before")),
        untreated_before=re.compile(
            phrase_pattern(word_list(t, "untreated_words")) + r"(?:\s+[a-z'-]+)?\s+$", re.IGNORECASE
        ),
        # not "in situ hybridization" (a test)
        in_situ_after=re.compile(
            r"\s+" + phrase_pattern(word_list(t, "in_situ_words")) + r"(?!\s*hybridi)", re.IGNORECASE
        ),
        in_situ_concept=str(t.get("in_situ_concept", "")),
        abbreviation_senses=tuple(abbreviation_sense(entry) for entry in t.get("abbreviation_senses") or ()),
        suspicion_before=compile_phrases(word_list(t, "suspicion_before")),
        confirmed_alternative=compile_phrases(word_list(t, "confirmed_alternative")),
        restrictive_clause=re.compile(
            # (after a head that ends inside a parenthesis too: "Hypertension (high blood pressure) that ...")
            r"\)?\s*(?:\([^()]{0,60}\)\s*)?,?\s*(?:"
            + phrase_pattern(word_list(t, "restrictive_clause_openers"))
            + "|"
            + phrase_pattern(word_list(t, "relative_clause_openers"))
            + r"(?!\s*,|\s+(?:been\s+)?"
            + phrase_pattern(word_list(t, "relative_clause_not_restrictive"))
            + "))",
            re.IGNORECASE,
        ),
        manifestation=compile_phrases(word_list(t, "manifestation_markers")),
        treatment_purpose=re.compile(
            r"\s+for\s+(?!\d|" + phrase_pattern(word_list(t, "for_not_a_purpose")) + ")", re.IGNORECASE
        ),
        restrictive_with=re.compile(
            r"\s+with\s+(?!or\b|the\s+exception|exception|"
            + phrase_pattern(word_list(t, "with_not_restrictive"))
            + ")",
            re.IGNORECASE,
        ),
        route_before=routes(route_words(t), r"\s+$"),
        dosing_word=compile_phrases(word_list(t, "dosing_words")),
        treatment_of_finding=re.compile(
            phrase_pattern(word_list(t, "treatment_of_finding_words"))
            + r"\s+(?:(?:the|their|his|her|its|any|an?|this|that|active)\s+)*$",
            re.IGNORECASE,
        ),
        recency=compile_phrases(word_list(t, "recency_words")),
        use_after=re.compile(r"\s*" + phrase_pattern(word_list(t, "use_nouns")), re.IGNORECASE),
        use_before=re.compile(phrase_pattern(word_list(t, "use_nouns")) + r"\s*(?:of\s+)?[(:]?\s*$", re.IGNORECASE),
        past_words=compile_phrases(word_list(t, "past_words")),
        grading_scales=frozenset(word_list(t, "finding_grading_scales")),
        threshold_subject=compile_phrases(word_list(t, "threshold_subject_markers")),
        dosing_before=re.compile(
            # the drug may be a later member of the list the words open ("long-term use of analgesics, sedatives
            # or NSAIDs"): a narrowing residue to confirm where the words were only the first member's
            phrase_pattern(word_list(t, "dosing_words"))
            + r"(?:\s+(?:use|treatment|therapy|courses?|doses?)\s+(?:of|with))?"
            r"(?:,?\s+[a-z-]+){0,6}?,?\s*$",
            re.IGNORECASE,
        ),
        route_lead=routes(route_words(t), r"\s+"),
        local_routes=frozenset(word_list(t, "local_route_words")),
        prevention_of_finding=compile_phrases(word_list(t, "prevention_of_finding")),
        interaction_with_drug=compile_phrases(word_list(t, "interaction_with_drug")),
        response_to_treatment=compile_phrases(word_list(t, "response_to_treatment")),
        unknown_status_before=compile_phrases(word_list(t, "unknown_status_before")),
        mother_before=compile_phrases(word_list(t, "mother_before")),
        manifestation_before=compile_phrases(word_list(t, "manifestation_before")),
        other_pressure_before=compile_phrases(word_list(t, "other_pressure_before")),
        future_reference=re.compile(r"\s*(?:" + phrase_pattern(word_list(t, "future_reference")) + ")", re.IGNORECASE),
        other_person_before=compile_phrases(word_list(t, "other_person_before")),
        dose_change_before=compile_phrases(word_list(t, "dose_change_before")),
        change_before_test=compile_phrases(by_name(t, "change_of_measurement")["before"]),
        change_after_test=right_after(by_name(t, "change_of_measurement")["after"]),
        dose_reference_before=dose_reference(t),
        trial_time_point=trial_time_point(t),
        contraindication_before=compile_phrases(word_list(t, "contraindication_before")),
        test_nouns=compile_phrases(word_list(t, "test_nouns")),
        positive_results=compile_phrases(word_list(t, "positive_results")),
        disqualifying=compile_phrases(word_list(t, "disqualifying_words")),
        disqualifying_after=compile_phrases(word_list(t, "disqualifying_after")),
        participant_roles=compile_phrases(word_list(t, "participant_roles")),
        permission_conditions=compile_phrases(word_list(t, "permission_conditions")),
        setting_markers=re.compile(
            "(?:" + phrase_pattern(word_list(t, "setting_markers")) + r")\s+(?:[\w-]+\s+){0,3}$", re.IGNORECASE
        ),
        past_markers=compile_phrases(word_list(t, "past_markers")),
        relative_markers=compile_phrases(word_list(t, "relative_markers")),
        personal_history=compile_phrases(word_list(t, "personal_history_markers")),
        cause_markers=compile_phrases(word_list(t, "cause_markers")),
        above_normal=re.compile("(?:" + phrase_pattern(word_list(t, "above_normal_words")) + r")\s*$", re.IGNORECASE),
        below_normal=re.compile("(?:" + phrase_pattern(word_list(t, "below_normal_words")) + r")\s*$", re.IGNORECASE),
        any_qualifier=compile_phrases([w for words in by_name(t, "qualifiers").values() for w in words]),
        any_topic=compile_phrases(
            [str(w) for entry in t["not_computable"] for group in topic_groups(entry) for w in group]
        ),
        topic_filter=TopicFilter.of([topic_groups(entry) for entry in t["not_computable"]]),
        example_markers=compile_phrases(word_list(t, "example_markers")),
        note_markers=re.compile(
            r"\(?\s*(?:" + phrase_pattern(word_list(t, "note_markers")) + r")(?:\s*[:,\-]|\s+that\b)", re.IGNORECASE
        ),
        evidence_phrases=compile_phrases(word_list(t, "evidence_phrases")),
        generic_head_nouns=frozenset(word_list(t, "generic_head_nouns")),
        definition_lead=re.compile(
            r"(?:" + phrase_pattern(word_list(t, "definition_lead_ends")) + r")\s*:\s*$", re.IGNORECASE
        ),
        current_time=compile_phrases(word_list(t, "current_time_phrases")),
        citation_year=re.compile(
            # "2022 World Health Organization (WHO) criteria": a name of up to five words, its acronym in brackets
            r"(?:19|20)\d\d\s*(?:[\w/\-().]+\s+){0,5}?(?:" + phrase_pattern(word_list(t, "citation_nouns")) + r")\b",
            re.IGNORECASE,
        ),
        not_exception=compile_phrases(word_list(t, "not_exception_phrases")),
        negated_comparator=compile_phrases([w for w in prefix if re.match(r"(?:no|not|does not)\s", w)]),
        washout=compile_phrases(word_list(t, "washout_predicates")),
        restating_negation=compile_phrases(word_list(t, "restating_negations")),
        procedure_statement=re.compile(
            r"\bwill\s+(?:(?:also|not|routinely|then|only)\s+)*be\s+(?:(?:also|routinely|then|only)\s+)*(?:"
            + phrase_pattern(word_list(t, "procedure_participles"))
            + r")\b",
            re.IGNORECASE,
        ),
        explanation_markers=re.compile(
            r"\(\s*(?:" + phrase_pattern(word_list(t, "explanation_markers")) + ")", re.IGNORECASE
        ),
        withdrawn=compile_phrases(word_list(t, "withdrawn_markers")),
        proper_names=compile_phrases(word_list(t, "proper_names")),
        name_nouns=frozenset(word_list(t, "name_nouns")),
        organisation_nouns=frozenset(word_list(t, "organisation_nouns")),
        subject_markers=compile_phrases(word_list(t, "subject_markers")),
        requirement_modals=compile_phrases(word_list(t, "requirement_modals")),
        stage_pair=re.compile(
            "(?:"
            + phrase_pattern(word_list(t, "stage_adjectives"))
            + r")\s*,?\s*(?:and/or|or|and|/)\s*(?="
            + phrase_pattern(word_list(t, "stage_adjectives"))
            + ")",
            re.IGNORECASE,
        ),
        shared_head_words=frozenset(word_list(dict(t.get("shared_head") or {}), "words")),
        shared_head_nouns=frozenset(word_list(dict(t.get("shared_head") or {}), "nouns")),
        neutral_context=re.compile("(?:" + phrase_pattern(word_list(t, "neutral_context")) + r")\s*$", re.IGNORECASE),
        count_re=re.compile(
            r"(?<![\w.])(?:\d+|one|two|three|four|five|six)\s*(?:or\s+more\s+|or\s+fewer\s+|or\s+less\s+|\+\s*)?"
            r"(?:(?:prior|previous|lines?\s+of|different|separate)\s+)*"
            r"(?:(?!(?:days?|weeks?|months?|years?|hours?|mg|g)\b)[a-z\-]+\s+){0,2}"
            + phrase_pattern(word_list(t, "count_nouns")),
            re.IGNORECASE,
        ),
    )
