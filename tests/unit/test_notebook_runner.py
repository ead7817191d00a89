"""The verdict checks that the current-engine lane applies to executed notebooks."""

from tests.utils.notebook_runner import verdicts_that_did_not_hold


def test_crosses_and_errors_are_reported_with_their_cell():
    texts = ["✔ le conteneur partage le noyau\n", "", "  ✘ l'ID est l'empreinte — mesuré : autre\nsuite\n",
             "ERROR RuntimeError: boom"]
    assert verdicts_that_did_not_hold(texts) == ["cell 2: ✘ l'ID est l'empreinte — mesuré : autre",
                                                 "cell 3: ERROR RuntimeError: boom"]


def test_a_cross_inside_a_sentence_is_not_a_verdict():
    assert verdicts_that_did_not_hold(["les lignes ✘ signalent une mesure inattendue\n"]) == []
