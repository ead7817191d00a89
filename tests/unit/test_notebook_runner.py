"""The verdict checks that the current-engine lane applies to executed notebooks."""

from tests.utils.notebook_runner import verdicts_that_did_not_hold


def test_crosses_and_errors_are_reported_with_their_cell():
    texts = ["✔ le conteneur partage le noyau\n", "", "  ✘ l'ID est l'empreinte — mesuré : autre\nsuite\n",
             "ERROR RuntimeError: boom"]
    assert verdicts_that_did_not_hold(texts) == ["cell 2: ✘ l'ID est l'empreinte — mesuré : autre",
                                                 "cell 3: ERROR RuntimeError: boom"]


def test_a_cross_inside_a_sentence_is_not_a_verdict():
    assert verdicts_that_did_not_hold(["les lignes ✘ signalent une mesure inattendue\n"]) == []


def test_not_at_full_marks_names_each_cell_that_lost_points():
    import nbformat

    from tests.utils.assignment import not_at_full_marks

    def cell(gid, points, shown, stderr=False):
        outputs = [nbformat.v4.new_output("execute_result", {"text/plain": str(shown)}, execution_count=1)]
        if stderr:
            outputs.append(nbformat.v4.new_output("stream", name="stderr", text="boom\n"))
        return nbformat.v4.new_code_cell("run_check()", metadata={"nbgrader": {"grade": True, "grade_id": gid,
                                                                           "points": points}}, outputs=outputs)

    full = nbformat.v4.new_notebook(cells=[cell(f"c{i}", 2, 2.0) for i in range(18)])
    assert not_at_full_marks(full) == []
    full.cells[3] = cell("c3", 2, 1.0)
    full.cells[5] = cell("c5", 2, 2.0, stderr=True)
    problems = not_at_full_marks(full)
    assert [p.split(":")[0] for p in problems] == ["c3", "c5"] and "(error or stderr)" in problems[1]
    assert not_at_full_marks(nbformat.v4.new_notebook(cells=full.cells[:17]))[0] == "17 graded cells, 18 expected"


def test_a_released_notebook_is_at_full_marks_when_its_questions_are_recorded():
    import nbformat

    from tests.utils.assignment import QUESTIONS, not_at_full_marks_as_released

    def cell(gid, shown, text=""):
        outputs = [nbformat.v4.new_output("stream", name="stdout", text=text)] if text else []
        if shown is not None:
            outputs.append(nbformat.v4.new_output("execute_result", {"text/plain": str(shown)}, execution_count=1))
        return nbformat.v4.new_code_cell("x", metadata={"nbgrader": {"grade": True, "grade_id": gid, "points": 1}},
                                         outputs=outputs)

    said = "Q : réponse enregistrée ; elle sera notée à la correction.\n"
    nb = nbformat.v4.new_notebook(cells=[cell(q, None, said) for q in QUESTIONS]
                                  + [cell(f"c{i}", 1.0) for i in range(15)])
    assert not_at_full_marks_as_released(nb) == []
    nb.cells[0] = cell(QUESTIONS[0], None, "rien\n")  # a question that was not recorded
    nb.cells[5] = cell("c2", 0.0)
    left = not_at_full_marks_as_released(nb)
    assert [ln.split(":")[0] for ln in left] == [QUESTIONS[0], "c2", "2 questions recorded, 3 expected"]


def test_lecture_objects_are_named_or_labelled_after_a_lecture():
    from tests.utils.notebook_runner import is_lecture_object

    assert is_lecture_object(["/dockercourse-nb02-oom"], {"dockercourse": "1"})
    assert is_lecture_object(["dockercourse-premier-conteneur"], {})
    assert is_lecture_object(["127.0.0.1:5000/dockercourse-nb04-app:1.0"], {})
    assert is_lecture_object([], {"dockercourse.unit": "nb03"})  # an untagged image of notebook 03
    assert not is_lecture_object(["dockercourse-nb03test-app:latest"], {"dockercourse.unit": "nb03test"})
    assert not is_lecture_object(["dockercourse-course:test"], {"dockercourse": "1"})
    assert not is_lecture_object(["dockercourse-grading-alice"], None)


def test_output_text_of_nbval_and_nbformat_outputs():
    from tests.utils.notebook_runner import output_text

    outs = [{"output_type": "stream", "name": "stdout", "text": "✔ oui\n"},
            {"output_type": "execute_result", "data": {"text/plain": "42", "text/html": "<b>42</b>"}},
            {"output_type": "error", "ename": "RuntimeError", "evalue": "boom", "traceback": []}]
    assert output_text(outs) == "✔ oui\n42ERROR RuntimeError: boom"
