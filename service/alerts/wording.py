"""The words of every message (pure tables): hazard names, level words and what to do, per
language (Bahasa Indonesia first), long for WhatsApp and short for SMS."""

from __future__ import annotations

from service.alerts.levels import AWAS, SIAGA, WASPADA

HAZARD_NAMES = {
    "id": {
        "flood": "banjir",
        "earthquake": "gempa bumi",
        "tsunami": "tsunami",
        "volcano": "erupsi gunung api",
        "landslide": "tanah longsor",
        "extreme_weather": "cuaca ekstrem",
        "other": "bencana",
    },
    "en": {
        "flood": "flood",
        "earthquake": "earthquake",
        "tsunami": "tsunami",
        "volcano": "volcanic eruption",
        "landslide": "landslide",
        "extreme_weather": "severe weather",
        "other": "hazard",
    },
}
LEVEL_WORDS = {
    "id": {WASPADA: "WASPADA", SIAGA: "SIAGA", AWAS: "AWAS"},
    "en": {WASPADA: "ADVISORY", SIAGA: "WATCH", AWAS: "WARNING"},
}

# What to do, (long for WhatsApp, short for SMS), per hazard and level.
_INSTRUCTIONS_ID: dict[str, dict[int, tuple[str, str]]] = {
    "flood": {
        WASPADA: ("Pantau ketinggian air dan siapkan tas siaga.", "Pantau air, siapkan tas siaga."),
        SIAGA: (
            "Amankan dokumen dan barang berharga, siap mengungsi bila diminta.",
            "Siap mengungsi.",
        ),
        AWAS: (
            "Segera mengungsi ke tempat yang lebih tinggi. Matikan listrik.",
            "Segera mengungsi ke tempat tinggi.",
        ),
    },
    "earthquake": {
        WASPADA: ("Tetap tenang, waspada gempa susulan.", "Tetap tenang, waspada susulan."),
        SIAGA: (
            "Keluar dari bangunan retak, jauhi tembok dan kaca. Waspada gempa susulan.",
            "Jauhi bangunan retak.",
        ),
        AWAS: (
            "Kumpul di titik aman, cek korban dan kerusakan, laporkan ke posko.",
            "Kumpul di titik aman, cek korban.",
        ),
    },
    "tsunami": {
        WASPADA: ("Jauhi pantai dan muara sungai.", "Jauhi pantai."),
        SIAGA: ("Segera menjauh dari pantai ke tempat tinggi.", "Segera menjauh dari pantai."),
        AWAS: (
            "SEGERA EVAKUASI ke tempat tinggi atau gedung evakuasi. Jangan tunggu.",
            "SEGERA EVAKUASI ke tempat tinggi.",
        ),
    },
    "volcano": {
        WASPADA: ("Ikuti info PVMBG, jauhi kawah.", "Jauhi kawah."),
        SIAGA: (
            "Siapkan masker, siap mengungsi, jauhi zona bahaya.",
            "Siap mengungsi, pakai masker.",
        ),
        AWAS: (
            "Segera mengungsi keluar zona bahaya sesuai arahan petugas.",
            "Segera mengungsi keluar zona bahaya.",
        ),
    },
    "landslide": {
        WASPADA: ("Perhatikan retakan tanah dan mata air baru.", "Perhatikan retakan tanah."),
        SIAGA: ("Jauhi lereng dan tebing, siap mengungsi.", "Jauhi lereng, siap mengungsi."),
        AWAS: ("Segera tinggalkan rumah di lereng dan tebing.", "Segera tinggalkan lereng."),
    },
    "extreme_weather": {
        WASPADA: (
            "Hindari pohon dan baliho saat hujan lebat dan petir.",
            "Hindari pohon & baliho.",
        ),
        SIAGA: (
            "Tetap di dalam bangunan kokoh, hindari pohon dan baliho.",
            "Tetap di dalam bangunan.",
        ),
        AWAS: (
            "Tetap di dalam bangunan kokoh, siap mengungsi bila banjir.",
            "Berlindung, siap mengungsi.",
        ),
    },
}
_INSTRUCTIONS_EN: dict[str, dict[int, tuple[str, str]]] = {
    "flood": {
        WASPADA: ("Watch the water level and prepare a go-bag.", "Watch water, prepare go-bag."),
        SIAGA: ("Secure documents and valuables, be ready to evacuate.", "Be ready to evacuate."),
        AWAS: (
            "Evacuate to higher ground now. Switch off electricity.",
            "Evacuate to high ground now.",
        ),
    },
    "earthquake": {
        WASPADA: ("Stay calm, expect aftershocks.", "Stay calm, expect aftershocks."),
        SIAGA: (
            "Leave cracked buildings, keep away from walls and glass.",
            "Leave cracked buildings.",
        ),
        AWAS: (
            "Gather at the assembly point, check for injured, report to the post.",
            "Gather at assembly point.",
        ),
    },
    "tsunami": {
        WASPADA: ("Stay away from beaches and river mouths.", "Stay away from the beach."),
        SIAGA: ("Move away from the coast to high ground.", "Move away from the coast."),
        AWAS: (
            "EVACUATE NOW to high ground or an evacuation building.",
            "EVACUATE NOW to high ground.",
        ),
    },
    "volcano": {
        WASPADA: ("Follow PVMBG updates, keep away from the crater.", "Keep away from crater."),
        SIAGA: ("Prepare masks, be ready to evacuate.", "Be ready to evacuate."),
        AWAS: (
            "Evacuate out of the danger zone as officials direct.",
            "Evacuate the danger zone now.",
        ),
    },
    "landslide": {
        WASPADA: ("Watch for ground cracks and new springs.", "Watch for ground cracks."),
        SIAGA: (
            "Keep away from slopes and cliffs, be ready to evacuate.",
            "Keep away from slopes.",
        ),
        AWAS: ("Leave homes on slopes and cliffs now.", "Leave slopes now."),
    },
    "extreme_weather": {
        WASPADA: ("Avoid trees and billboards in storms.", "Avoid trees and billboards."),
        SIAGA: ("Stay inside a solid building.", "Stay indoors."),
        AWAS: (
            "Shelter in a solid building, be ready to evacuate if flooding.",
            "Shelter, be ready to go.",
        ),
    },
}
_FALLBACK = {
    "id": ("Ikuti arahan petugas BPBD setempat.", "Ikuti arahan petugas."),
    "en": ("Follow the instructions of local officials.", "Follow officials' instructions."),
}


# Words for a map's risk class (the preparedness notice), by the tier it maps onto.
RISK_WORDS = {
    "id": {WASPADA: "sedang", SIAGA: "tinggi", AWAS: "sangat tinggi"},
    "en": {WASPADA: "medium", SIAGA: "high", AWAS: "very high"},
}


def hazard_name(hazard: str, language: str) -> str:
    names = HAZARD_NAMES.get(language, HAZARD_NAMES["id"])
    return names.get(hazard, names["other"])


def level_word(level: int, language: str) -> str:
    return LEVEL_WORDS.get(language, LEVEL_WORDS["id"]).get(level, "")


def instruction(hazard: str, level: int, language: str, *, short: bool) -> str:
    table = _INSTRUCTIONS_EN if language == "en" else _INSTRUCTIONS_ID
    pair = table.get(hazard, {}).get(level) or _FALLBACK["en" if language == "en" else "id"]
    return pair[1] if short else pair[0]
