"""Rendering of the label-quality figures, shared by the Analytics and Label quality pages."""

from __future__ import annotations

import altair as alt
import pandas as pd
import streamlit as st

from core.agreement import AgreementReport


def render_agreement(report: AgreementReport, *, key: str) -> None:
    """Alpha overall, per tier and per week; the most disputed tags; each moderator's kappa,
    overall and (from two weeks on) week by week."""
    if report.overall.videos == 0:
        st.caption("No overlap video has two answers yet.")
        return
    scopes = [report.overall, *report.per_tier, *report.per_week]
    st.dataframe(
        pd.DataFrame(
            [
                {"scope": s.name, "alpha": s.alpha, "units": s.units, "videos": s.videos}
                for s in scopes
            ]
        ),
        hide_index=True,
        key=f"{key}_alpha",
    )
    cols = st.columns(2)
    cols[0].caption("Most disputed tags (lowest alpha)")
    cols[0].dataframe(
        pd.DataFrame(
            [{"tag": s.name, "alpha": s.alpha, "units": s.units} for s in report.per_tag[:20]]
        ),
        hide_index=True,
        key=f"{key}_tags",
    )
    cols[1].caption("Moderators: mean Cohen's kappa with peers")
    cols[1].dataframe(
        pd.DataFrame(
            [
                {
                    "moderator": m.user,
                    "kappa": m.kappa,
                    "identical": m.identical,
                    "videos": m.videos,
                }
                for m in report.per_moderator
            ]
        ),
        hide_index=True,
        key=f"{key}_moderators",
    )
    weekly = pd.DataFrame(
        [
            {"week": week, "moderator": m.user, "kappa": m.kappa, "videos": m.videos}
            for week, moderators in report.per_moderator_week.items()
            for m in moderators
            if m.kappa is not None
        ]
    )
    if weekly.empty or weekly["week"].nunique() < 2:
        return
    st.caption("Each moderator's kappa with peers, week by week (a drift shows here first)")
    st.altair_chart(
        alt.Chart(weekly)
        .mark_line(point=True)
        .encode(
            x=alt.X("week:O", title="ISO week"),
            y=alt.Y("kappa:Q", title="mean Cohen's kappa with peers"),
            color="moderator:N",
            tooltip=["week", "moderator", "kappa", "videos"],
        )
        .properties(height=220),
        width="stretch",
        key=f"{key}_moderator_weeks",
    )
