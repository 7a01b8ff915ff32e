"""Alert templates render as Prometheus renders them; promtool itself is the judge."""

from __future__ import annotations

import json
import math
import shutil
import subprocess
from pathlib import Path

import pytest

from promalert.errors import TemplateError
from promalert.rules.template import (
    alert_template_name,
    expand_template,
    format_value,
    parse_template,
    render_template,
)

LABELS = {"__name__": "node_cpu", "instance": "web-1:9100", "job": "node"}
NAN, INF = float("nan"), float("inf")


def render(text: str, value: float = 97.0, labels: dict[str, str] | None = None) -> str:
    return render_template(
        text,
        labels=LABELS if labels is None else labels,
        value=value,
        external_url="https://prom.example.com/prometheus",
        external_labels={"region": "eu"},
        name="__alert_Test",
    )


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (97.0, "97"),
        (0.5, "0.5"),
        (1000000.0, "1e+06"),
        (1.23456789012e11, "1.23456789012e+11"),
        (0.000012345, "1.2345e-05"),
        (123456.0, "123456"),
        (1234567.0, "1.234567e+06"),
        (0.0001, "0.0001"),
        (-3.25, "-3.25"),
        (0.0, "0"),
        (-0.0, "-0"),
        (0.1 + 0.2, "0.30000000000000004"),
        (NAN, "NaN"),
        (INF, "+Inf"),
        (-INF, "-Inf"),
        (5e-324, "5e-324"),
    ],
)
def test_format_value_prints_like_go_percent_v(value: float, text: str) -> None:
    assert format_value(value) == text
    assert render("{{ $value }}", value) == text


CONSTRUCTS = [
    # Text, variables, fields, trim markers and comments.
    ("plain text", 1.0, "plain text"),
    ("{{ $labels.instance }} {{ .Labels.job }} {{ $.Value }}", 2.5, "web-1:9100 node 2.5"),
    ("{{ $labels }}", 1.0, "map[__name__:node_cpu instance:web-1:9100 job:node]"),
    (
        "{{ $externalLabels.region }} {{ $externalURL }}",
        1.0,
        "eu https://prom.example.com/prometheus",
    ),
    ("[{{ $labels.missing }}]", 1.0, "[]"),
    ("a  {{- 1 -}}  b {{- /* gone */ -}} c{{/* kept space */}} d", 1.0, "a1bc d"),
    ("{{-3}}|{{ -3 -}} x", 1.0, "-3|-3x"),
    # Literals.
    ('{{ "tab\\tq\\"\\u00e9" }} {{ `raw\\n` }}', 1.0, 'tab\tq"é raw\\n'),
    (
        "{{ 1.50 }} {{ 0x1F }} {{ 1e3 }} {{ 'a' }} {{ true }} {{ 017 }}",
        1.0,
        "1.5 31 1000 97 true 15",
    ),
    # Pipelines, parentheses, declarations.
    ('{{ $value | printf "%.1f" }} {{ (index $labels "job") | toUpper }}', 97.25, "97.2 NODE"),
    ("{{ $x := 1 }}{{ if true }}{{ $x = 2 }}{{ $y := 3 }}{{ $y }}{{ end }}{{ $x }}", 1.0, "32"),
    # Control flow.
    ("{{ if gt $value 90.0 }}hi{{ else if gt $value 50.0 }}mid{{ else }}lo{{ end }}", 97.0, "hi"),
    ("{{ if gt $value 90.0 }}hi{{ else if gt $value 50.0 }}mid{{ else }}lo{{ end }}", 60.0, "mid"),
    ("{{ if gt $value 90.0 }}hi{{ else if gt $value 50.0 }}mid{{ else }}lo{{ end }}", 1.0, "lo"),
    (
        "{{ range $k, $v := $labels }}{{ $k }}={{ $v }};{{ end }}",
        1.0,
        "__name__=node_cpu;instance=web-1:9100;job=node;",
    ),
    (
        "{{ range $externalLabels }}<{{ . }}>{{ end }}{{ range args }}x{{ else }}none{{ end }}",
        1.0,
        "<eu>none",
    ),
    (
        "{{ range $i, $e := args 1 2 3 4 }}{{ if eq $e 2 }}{{ continue }}{{ end }}"
        "{{ if eq $e 4 }}{{ break }}{{ end }}{{ $i }}:{{ $e }} {{ end }}",
        1.0,
        "arg0:1 arg2:3 ",
    ),
    (
        "{{ with $labels.job }}job={{ . }}{{ end }}{{ with $labels.nope }}x{{ else }}-{{ end }}",
        1.0,
        "job=node-",
    ),
    ('{{ define "t" }}<{{ . }}>{{ end }}{{ template "t" $labels.job }}', 1.0, "<node>"),
    # Go's builtins.
    (
        '{{ and 1 0 }} {{ or 0 "" "y" }} {{ not 0 }} {{ len $labels }} {{ len "héllo" }}',
        1.0,
        "0 y true 3 6",
    ),
    (
        '{{ eq $labels.job "a" "node" }} {{ ne 1 2 }} {{ lt "a" "b" }} '
        "{{ le 2 2 }} {{ ge 1.5 2.5 }}",
        1.0,
        "true true true true false",
    ),
    ("{{ gt $value 90.0 }}", NAN, "true"),  # Go: NaN is neither < nor ==, so "not <=" holds
    ('{{ index $labels "job" }} {{ index "abc" 1 }} {{ slice "abcdef" 1 3 }}', 1.0, "node 98 bc"),
    ('{{ print 1 2 "a" "b" 3 }}|{{ println 1 "a" }}|', 1.0, "1 2ab3|1 a\n|"),
    (
        '{{ html "<a href=\'x\'>&</a>" }} {{ js "it\'s <b>" }} {{ urlquery "a b&c" }}',
        1.0,
        "&lt;a href=&#39;x&#39;&gt;&amp;&lt;/a&gt; it\\'s \\u003Cb\\u003E a+b%26c",
    ),
    # printf verbs, widths and Go's error notes.
    (
        '{{ printf "%.2f|%5.1f|%-6s|%06.2f|%d|%x|%X|%o|%b|%q|%%" 3.14159 3.14159 "ab" 3.14159 '
        '42 255 255 8 5 "q" }}',
        1.0,
        '3.14|  3.1|ab    |003.14|42|ff|FF|10|101|"q"|%',
    ),
    (
        '{{ printf "%v %s %g %e %.3g %+d %T %t" 1.5 "s" 1e21 1234.5678 1234567.0 5 $value true }}',
        1.0,
        "1.5 s 1e+21 1.234568e+03 1.23e+06 +5 float64 true",
    ),
    (
        '{{ printf "%d" $value }} {{ printf "%s" 1 }} {{ printf "%d %d" 1 }} {{ printf "x" 1 }}',
        97.0,
        "%!d(float64=97) %!s(int=1) 1 %!d(MISSING) x%!(EXTRA int=1)",
    ),
    # Prometheus's functions.
    (
        '{{ humanize 1234567.0 }} {{ humanize 0.000123 }} {{ humanize 0 }} {{ humanize "2048" }}',
        1.0,
        "1.235M 123u 0 2.048k",
    ),
    (
        "{{ humanize1024 1536 }} {{ humanize1024 1073741824 }} {{ humanize1024 0.5 }}",
        1.0,
        "1.5ki 1Gi 0.5",
    ),
    (
        "{{ humanizeDuration 97 }} {{ humanizeDuration 200000.5 }} {{ humanizeDuration 0.0123 }} "
        "{{ humanizeDuration 1.5 }} {{ humanizeDuration -3700 }}",
        1.0,
        "1m 37s 2d 7h 33m 20s 12.3ms 1.5s -1h 1m 40s",
    ),
    ("{{ humanizePercentage 0.123456 }} {{ humanizePercentage 1 }}", 1.0, "12.35% 100%"),
    (
        "{{ humanizeTimestamp 1700000000.123 }} | {{ humanizeTimestamp 0 }}",
        1.0,
        "2023-11-14 22:13:20.122 +0000 UTC | 1970-01-01 00:00:00 +0000 UTC",
    ),
    ("{{ humanize $value }} {{ humanizeDuration $value }}", INF, "+Inf +Inf"),
    (
        '{{ toUpper "abc" }} {{ toLower "ÀBC" }} {{ title "hello wORLD-foo_bar" }}',
        1.0,
        "ABC àbc Hello WORLD-Foo_bar",
    ),
    ('{{ reReplaceAll "(.*):(.*)" "$2 on ${1}x $$" $labels.instance }}', 1.0, "9100 on web-1x $"),
    (
        '{{ reReplaceAll "(?P<h>[^:]+):\\\\d+" "${h}" "a:1 b:22" }} '
        '{{ reReplaceAll "x*" "-" "abxd" }}',
        1.0,
        "a b -a-b-d-",
    ),
    (
        '{{ match "^web-\\\\d" $labels.instance }} {{ match "[[:upper:]]" "abc" }}',
        1.0,
        "true false",
    ),
    (
        '{{ stripPort $labels.instance }} {{ stripPort "[::1]:80" }} {{ stripPort "host" }}',
        1.0,
        "web-1 ::1 host",
    ),
    ('{{ parseDuration "1h30m" }} {{ parseDuration "250ms" }}', 1.0, "5400 0.25"),
    (
        '{{ tableLink "up > 1" }} {{ graphLink "a b" }}',
        1.0,
        "/graph?g0.expr=up+%3E+1&g0.tab=1 /graph?g0.expr=a+b&g0.tab=0",
    ),
    ("{{ externalURL }} {{ pathPrefix }}", 1.0, "https://prom.example.com/prometheus /prometheus"),
    ('{{ safeHtml "<b>" }} {{ args 1 "a" }}', 1.0, "<b> map[arg0:1 arg1:a]"),
]


@pytest.mark.parametrize(("text", "value", "expected"), CONSTRUCTS)
def test_constructs_render_like_prometheus(text: str, value: float, expected: str) -> None:
    assert render(text, value) == expected


EXEC_ERRORS = [
    (
        "{{ gt $value 90 }}",
        '1:115: executing "__alert_Test" at <gt $value 90>: '
        "error calling gt: incompatible types for comparison",
    ),
    (
        '{{ humanize "abc" }}',
        'at <humanize "abc">: error calling humanize: '
        'strconv.ParseFloat: parsing "abc": invalid syntax',
    ),
    ("{{ toUpper $value }}", "at <$value>: wrong type for value; expected string; got float64"),
    ("{{ .Foo }}", "at <.Foo>: can't evaluate field Foo in type struct {"),
    ('{{ query "up" }}', "error calling query: query() is not supported in templates yet"),
    (
        '{{ reReplaceAll "(" "x" "y" }}',
        "regexp: Compile(`(`): error parsing regexp: missing closing ): `(`",
    ),
    ("a\n  b {{ humanize true }}", "__alert_Test:2:7: executing"),
    ('{{ template "nope" }}', 'template "nope" not defined'),
]


@pytest.mark.parametrize(("text", "fragment"), EXEC_ERRORS)
def test_execution_errors_name_template_position_and_cause(text: str, fragment: str) -> None:
    with pytest.raises(TemplateError) as err:
        render(text)
    message = str(err.value)
    assert message.startswith("error executing template __alert_Test: template: __alert_Test:")
    assert fragment in message


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{{ foo }}", 'function "foo" not defined'),
        ("{{ $nope }}", 'undefined variable "$nope"'),
        ("{{ if 1 }}x", "unexpected EOF"),
        ("x\n{{ end }}", "unexpected {{end}}"),
        ('{{ "open }}', "unterminated quoted string"),
        ("{{ 3 | 4 }}", "non executable command in pipeline stage 2"),
    ],
)
def test_parse_errors_name_template_and_line(text: str, message: str) -> None:
    line = text.count("\n") + 1
    with pytest.raises(TemplateError) as err:
        parse_template(text, "__alert_Bad")
    assert (
        str(err.value)
        == f"error parsing template __alert_Bad: template: __alert_Bad:{line}: {message}"
    )


def test_expand_template_returns_prometheus_error_text() -> None:
    out = expand_template("{{ gt $value 90 }}", labels={}, value=1.0, external_url="", name="x")
    assert out.startswith("<error expanding template: error executing template x: template: x:")
    assert out.endswith("incompatible types for comparison>")


def test_parsed_templates_are_cached_and_reusable() -> None:
    first = parse_template("{{ $labels.job }} at {{ $value }}", "__alert_C")
    assert parse_template("{{ $labels.job }} at {{ $value }}", "__alert_C") is first
    assert render_template(first, labels={"job": "a"}, value=2, external_url="") == "a at 2"
    assert render_template(first, labels={"job": "b"}, value=0.5, external_url="") == "b at 0.5"
    assert alert_template_name("HighCPU") == "__alert_HighCPU"


# Checked against Prometheus itself: each case becomes an alerting rule whose annotation is
# the template, and a promtool unit test expects the text promalert renders for it.
PROMTOOL_CASES: list[tuple[str, float, dict[str, str]]] = [
    *(
        (text, value, {"instance": "web-1:9100"})
        for text, value, _ in CONSTRUCTS
        if "externalURL" not in text and "$externalLabels" not in text
    ),  # promtool sets neither
    *((text, 97.0, {"instance": "web-1:9100"}) for text, _ in EXEC_ERRORS if "query" not in text),
    *(
        ('{{ $value }} {{ humanize $value }} {{ printf "%.3f|%g" $value $value }}', v, {})
        for v in (97.0, 0.5, 1e6, 1.23456789012e11, 0.000012345, NAN, INF, -INF, 0.0, -42.125)
    ),
    ('{{ $labels.q }} {{ printf "%q" $labels.q }}', 1.0, {"q": 'a"b\\c é\t😀'}),
    (
        '{{ range $i, $e := args 1 2.5 "s" true }}{{ $i }}={{ printf "%v/%T" $e $e }} {{ end }}',
        1.0,
        {},
    ),
]


def _yaml(value: object) -> str:
    return json.dumps(value, ensure_ascii=False)  # JSON is YAML, with exact escapes


def _series_value(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Inf" if value > 0 else "-Inf"
    return repr(value)


def _promtool_files(
    tmp_path: Path, cases: list[tuple[str, float, dict[str, str]]], sabotage: int | None = None
) -> Path:
    rules, series, alerts = [], [], []
    for i, (text, value, extra) in enumerate(cases):
        name = f"Case{i}"
        labels = {"case": str(i), **extra}
        expected = expand_template(
            text,
            labels={"__name__": "case_metric", **labels},
            value=value,
            external_url="",
            name=alert_template_name(name),
        )
        if i == sabotage:
            expected += "!"
        selector = ",".join(f"{k}={_yaml(v)}" for k, v in labels.items())
        v = _series_value(value)
        rules.append(
            f'  - alert: {name}\n    expr: case_metric{{case="{i}"}}\n'
            f"    annotations: {{out: {_yaml(text)}}}\n"
        )
        series.append(
            f"  - series: {_yaml('case_metric{' + selector + '}')}\n    values: '{v} {v}'\n"
        )
        alerts.append(
            f"  - eval_time: 1m\n    alertname: {name}\n    exp_alerts:\n"
            f"    - exp_labels: {_yaml(labels)}\n"
            f"      exp_annotations: {{out: {_yaml(expected)}}}\n"
        )
    (tmp_path / "rules.yml").write_text("groups:\n- name: cases\n  rules:\n" + "".join(rules))
    test_file = tmp_path / "test.yml"
    test_file.write_text(
        "rule_files: [rules.yml]\nevaluation_interval: 1m\ntests:\n- interval: 1m\n"
        "  input_series:\n" + "".join(series) + "  alert_rule_test:\n" + "".join(alerts)
    )
    return test_file


def _promtool() -> str:
    path = shutil.which("promtool")
    if path is None:
        pytest.skip("promtool (Debian package prometheus) is not installed")
    return path


@pytest.mark.prometheus
def test_promtool_renders_every_case_as_promalert_does(tmp_path: Path) -> None:
    test_file = _promtool_files(tmp_path, PROMTOOL_CASES)
    run = subprocess.run(
        [_promtool(), "test", "rules", test_file.name],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert "SUCCESS" in run.stdout


@pytest.mark.prometheus
def test_promtool_comparison_can_fail(tmp_path: Path) -> None:
    test_file = _promtool_files(tmp_path, PROMTOOL_CASES[:3], sabotage=1)
    run = subprocess.run(
        [_promtool(), "test", "rules", test_file.name],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert run.returncode != 0
    assert "Case1" in run.stdout + run.stderr


@pytest.mark.prometheus
@pytest.mark.parametrize(
    "text",
    [
        "{{ foo }}",
        "{{ if 1 }}x",
        "{{ ) }}",
        "{{ 1+2 }}",
        "x\n{{ $nope }}",
        "{{ range $a, 1 }}{{ end }}",
    ],
)
def test_parse_errors_match_promtool_check_rules(tmp_path: Path, text: str) -> None:
    (tmp_path / "r.yml").write_text(
        f"groups:\n- name: g\n  rules:\n  - alert: Bad\n    expr: up\n"
        f"    annotations: {{out: {_yaml(text)}}}\n"
    )
    run = subprocess.run(
        [_promtool(), "check", "rules", "r.yml"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    with pytest.raises(TemplateError) as err:
        parse_template(text, alert_template_name("Bad"))
    go_message = str(err.value).removeprefix("error parsing template __alert_Bad: ")
    assert f'annotation "out": {go_message}' in run.stdout + run.stderr
