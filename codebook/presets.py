"""Codebook templates a study can start from. Plain data, no Django."""
from __future__ import annotations

from typing import TypedDict


class PresetCode(TypedDict, total=False):
    name: str
    color: str
    description: str
    children: list[PresetCode]


MIGRATION_DRIVERS: list[PresetCode] = [
    {
        "name": "Economic incentives",
        "color": "#d97706",
        "description": "Material reasons for moving: pay, prospects, the job itself.",
        "children": [
            {"name": "Salary in job offer", "color": "#f59e0b",
             "description": "The salary or package offered was a reason to move or stay."},
            {"name": "Career development", "color": "#fbbf24",
             "description": "Promotion, learning, a better position or a career path as a reason to move."},
        ],
    },
    {
        "name": "Preferential policies",
        "color": "#7c3aed",
        "description": "Government programmes and rules that favour the move.",
        "children": [
            {"name": "Hukou", "color": "#a78bfa",
             "description": "Household registration: obtaining or keeping a local hukou, and what it gives access to."},
        ],
    },
    {
        "name": "Amenities",
        "color": "#059669",
        "description": "Qualities of the place itself.",
        "children": [
            {"name": "Climate", "color": "#34d399", "description": "Weather, air quality, natural environment."},
            {"name": "Facilities and services", "color": "#10b981",
             "description": "Schools, hospitals, transport, housing and other public services."},
            {"name": "Social amenities", "color": "#6ee7b7",
             "description": "Culture, food, leisure, the feel of the city, being able to speak the dialect."},
        ],
    },
    {
        "name": "Social networks",
        "color": "#2563eb",
        "description": "People who drew the interviewee to the place or held them there.",
        "children": [
            {"name": "Kinship", "color": "#60a5fa",
             "description": "Parents, spouse, children and relatives: caring for them, being near them."},
            {"name": "Partnership", "color": "#3b82f6",
             "description": "A romantic partner or spouse-to-be as a reason for the move."},
            {"name": "Alumni", "color": "#93c5fd",
             "description": "Classmates and university networks that provided jobs, information or company."},
        ],
    },
    {
        "name": "Return migration",
        "color": "#dc2626",
        "description": "Coming back from abroad or from another province and what was brought back.",
        "children": [
            {"name": "Entrepreneurship", "color": "#f87171",
             "description": "Starting a business on return, or returning in order to start one."},
            {"name": "Team return", "color": "#ef4444",
             "description": "Returning together with a research or business team."},
            {"name": "Associations", "color": "#fca5a5",
             "description": "Returnee associations, chambers and clubs that helped the return."},
        ],
    },
]

TEMPLATES: dict[str, list[PresetCode]] = {
    "empty": [],
    "migration-drivers": MIGRATION_DRIVERS,
}
