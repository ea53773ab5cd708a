"""The dora-impact dashboard (Streamlit): one page per question a user asks.

Run through `dora-impact dashboard` (or `demo`), which passes `--db` and `--config`:
    streamlit run dashboards/app.py -- --db dora.duckdb [--config dora.toml]
Read-only: it never writes to the database.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import streamlit as st

# Streamlit runs this file as a script; make the project importable when run from a checkout.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dashboards import auth, data, pages  # noqa: E402
from warehouse.location import Location  # noqa: E402


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", default=os.environ.get("DORA_IMPACT_DB", "dora.duckdb"))
    parser.add_argument("--config", default=os.environ.get("DORA_IMPACT_CONFIG"))
    return parser.parse_known_args(sys.argv[1:])[0]


def icon():
    """Three rising bars, drawn here: a Material icon as page_icon makes the browser fetch
    the favicon from fonts.gstatic.com, and the dashboard reaches no outside host."""
    from PIL import Image, ImageDraw

    image = Image.new("RGBA", (32, 32), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    for i, height in enumerate((12, 20, 28)):
        draw.rectangle((2 + 10 * i, 31 - height, 9 + 10 * i, 31), fill=(9, 105, 218, 255))
    return image


def main() -> None:
    st.set_page_config(page_title="dora-impact", page_icon=icon(), layout="wide")
    args = arguments()
    # A file made absolute, a lake's connection string kept as given (warehouse/location.py).
    location = Location.parse(args.db)
    st.session_state["db"] = location.text
    st.session_state["config"] = args.config
    auth.gate(data.config(args.config).dashboard.auth)  # sign-in, when [dashboard.auth] is set
    if not location.exists():
        st.error(f"{args.db}: no such database. Run `dora-impact demo --no-serve`, `import` or `sync`.")
        st.stop()
    navigation = st.navigation(
        [
            st.Page(
                pages.delivery,
                title="Delivery",
                icon=":material/rocket_launch:",
                url_path="delivery",
                default=True,
            ),
            st.Page(pages.teams, title="Teams", icon=":material/groups:", url_path="teams"),
            st.Page(pages.quarters, title="Quarters", icon=":material/calendar_month:", url_path="quarters"),
            st.Page(
                pages.initiatives, title="Initiatives", icon=":material/science:", url_path="initiatives"
            ),
            st.Page(pages.adoption, title="Adoption", icon=":material/trending_up:", url_path="adoption"),
            st.Page(pages.health, title="Data health", icon=":material/monitor_heart:", url_path="health"),
        ]
    )
    pages.data_as_of()
    try:
        navigation.run()
    except data.Busy:  # a writer held the file past READ_WAIT and no earlier read exists
        st.info("A sync or import is writing to the database; reload in a moment.")


main()
