"""The console's charts as Apache ECharts options (`st.echarts_chart`), built from Polars columns.

Why ECharts and not Plotly: Streamlit loads Plotly as a 4.7 MB script that the browser parses for
every new tab and draws as SVG; ECharts is 1.1 MB and draws on a canvas. With five charts the
Health page took 2.9 s to render in Chromium on the demo (issue 15). Times go to ECharts as epoch
milliseconds (series data must be JSON) on a UTC time axis, as every time in the console is UTC.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import polars as pl
import streamlit as st

from console.wording import SEVERITY_COLORS, VERDICT_COLORS

GREY = "#8c959f"
Option = dict[str, Any]
LEFT = {"align": "left"}  # an axis name starts at the axis and runs right, never off the chart's left edge


def epoch_ms(times: pl.Series) -> list[int | None]:
    return times.dt.epoch("ms").to_list()


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def time_axis(since: datetime, until: datetime) -> Option:
    """Always the whole window, so one point does not get sub-millisecond ticks."""
    return {"type": "time", "min": _ms(since), "max": _ms(until)}


def _base(**option: Any) -> Option:
    return {"useUTC": True, "animation": False, "grid": {"left": 20, "right": 20, "top": 40, "bottom": 30,
                                                         "containLabel": True},
            "tooltip": {"trigger": "item"}, **option}


def show(option: Option, height: int = 300) -> None:
    st.echarts_chart(option, height=height)


def target_line(y: float, label: str) -> Option:
    return {"silent": True, "symbol": "none", "lineStyle": {"type": "dotted", "color": "#57606a"},
            "label": {"formatter": label, "position": "insideEndTop"}, "data": [{"yAxis": y}]}


def rate_over_time(times: pl.Series, values: pl.Series, since: datetime, until: datetime, name: str,
                   axis_title: str, target: float) -> Option:
    points = [list(p) for p in zip(epoch_ms(times), values.round(2).to_list(), strict=True)]
    return _base(xAxis=time_axis(since, until),
                 yAxis={"type": "value", "name": axis_title, "min": 0, "max": 100, "nameTextStyle": LEFT},
                 series=[{"type": "line", "name": name, "data": points, "symbolSize": 6,
                          "markLine": target_line(target, f"target {target:g}")}])


def severity_pie(severities: Sequence[str], counts: Sequence[int]) -> Option:
    data = [{"name": s, "value": n, "itemStyle": {"color": SEVERITY_COLORS.get(s, GREY)}}
            for s, n in zip(severities, counts, strict=True)]
    return _base(legend={"orient": "vertical", "right": 10, "top": "middle"},
                 series=[{"type": "pie", "radius": ["0%", "70%"], "center": ["40%", "50%"], "data": data,
                          "label": {"formatter": "{c}", "position": "inside", "color": "#fff"}}])


def histogram(values: pl.Series, bins: int, axis_title: str, count_title: str) -> Option:
    """Counts of `values` in `bins` equal bins, as bars labelled by the bin's range."""
    low, high = float(values.min()), float(values.max())  # type: ignore[arg-type]
    width = (high - low) / bins or 1.0
    index = ((values.cast(pl.Float64) - low) / width).floor().clip(0, bins - 1).cast(pl.Int64)
    counts = index.value_counts().sort(index.name)
    by_bin = dict(zip(counts[index.name].to_list(), counts["count"].to_list(), strict=True))
    used = range(bins) if high > low else range(1)
    labels = [f"{low + i * width:.1f}–{low + (i + 1) * width:.1f}" for i in used]
    return _base(xAxis={"type": "category", "data": labels, "name": axis_title, "nameLocation": "middle",
                        "nameGap": 30},
                 yAxis={"type": "value", "name": count_title, "minInterval": 1, "nameTextStyle": LEFT},
                 series=[{"type": "bar", "data": [by_bin.get(i, 0) for i in used], "barCategoryGap": "5%"}])


def minutes_by_severity(times: pl.Series, minutes: pl.Series, severities: Sequence[str], since: datetime,
                        until: datetime, axis_title: str, target: float) -> Option:
    """One scatter series per severity (coloured, in the legend), with the target as a dotted line."""
    points: dict[str, list[list[Any]]] = {}
    for at, value, severity in zip(epoch_ms(times), minutes.round(1).to_list(), severities, strict=True):
        points.setdefault(severity, []).append([at, value])
    ordered = sorted(points, key=lambda s: list(SEVERITY_COLORS).index(s) if s in SEVERITY_COLORS else 9)
    series = [{"type": "scatter", "name": s, "data": points[s], "symbolSize": 9,
               "itemStyle": {"color": SEVERITY_COLORS.get(s, GREY)}} for s in ordered]
    series[0]["markLine"] = target_line(target, f"target {target:g} min")
    return _base(legend={"top": 0}, xAxis=time_axis(since, until),
                 yAxis={"type": "value", "name": axis_title, "nameTextStyle": LEFT}, series=series)


def gauge(value: int, title: str, top: int) -> Option:
    return {"animation": False,
            "series": [{"type": "gauge", "min": 0, "max": top, "data": [{"value": value, "name": title}],
                        "title": {"offsetCenter": [0, "85%"], "fontSize": 14},  # the name below the number
                        "detail": {"offsetCenter": [0, "45%"], "fontSize": 28}}]}


def verdicts_over_time(times: pl.Series, statuses: Sequence[str], runs: Sequence[int | None], since: datetime,
                       until: datetime) -> Option:
    """Each result as a dot on its verdict's row, coloured by verdict; the tooltip names the run."""
    order = list(VERDICT_COLORS)
    data = [{"value": [at, status], "name": f"run {run}", "itemStyle": {"color": VERDICT_COLORS.get(status, GREY)}}
            for at, status, run in zip(epoch_ms(times), statuses, runs, strict=True)]
    return _base(xAxis=time_axis(since, until), yAxis={"type": "category", "data": order},
                 series=[{"type": "scatter", "data": data, "symbolSize": 9}])


def metric_with_band(times: pl.Series, values: pl.Series, statuses: Sequence[str], label: str,
                     band: tuple[float, float] | None, marks: Sequence[tuple[str, pl.Series, Sequence[str], Option]],
                     since: datetime, until: datetime) -> Option:
    """The observed metric (dots coloured by verdict), the allowed band shaded, and event marks along the
    top: `marks` are (name, times, tooltips, symbol style) drawn on a hidden 0..1 axis."""
    data = [{"value": [at, value], "itemStyle": {"color": VERDICT_COLORS.get(status, GREY)}}
            for at, value, status in zip(epoch_ms(times), values.to_list(), statuses, strict=True)]
    metric: Option = {"type": "line", "name": label, "data": data, "symbolSize": 8, "lineStyle": {"color": "#57606a"},
                      "itemStyle": {"color": "#57606a"}}
    if band is not None:
        metric["markArea"] = {"silent": True, "itemStyle": {"color": "rgba(45, 164, 78, 0.12)"},
                              "label": {"formatter": "allowed", "position": "insideTopLeft"},
                              "data": [[{"yAxis": band[0]}, {"yAxis": band[1]}]]}
    series: list[Option] = [metric]
    for i, (name, at, tips, style) in enumerate(marks):
        y = 1.0 - 0.07 * i
        series.append({"type": "scatter", "name": name, "yAxisIndex": 1, **style,
                       "data": [{"value": [t, y], "name": tip} for t, tip in zip(epoch_ms(at), tips, strict=True)]})
    return _base(legend={"top": 0}, grid={"left": 20, "right": 20, "top": 60, "bottom": 30, "containLabel": True},
                 xAxis=time_axis(since, until),
                 yAxis=[{"type": "value", "name": label, "nameTextStyle": LEFT},
                        {"type": "value", "min": 0, "max": 1.05, "show": False}],
                 series=series)
