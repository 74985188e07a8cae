"""What a message must never say: words that reveal the kind of care someone receives.

Anyone who glances at a lock screen, a shared inbox or a family calendar sees the subject, the
SMS preview and the event titles. 42 CFR Part 2 protects the fact of substance-use treatment
itself, so the test is broad: no program type, diagnosis, track, modality, level of care or
clinical role, in English or Spanish. Matching is on whole words after folding case and accents,
plus a few stems, so "Therapist", "terapéutico" and "rehab" are all caught.
"""

import re
import unicodedata

# Whole words (after folding). Chosen to cover: program types and levels of care, tracks and
# diagnoses, modalities, clinical roles, and the vocabulary of the recovery world.
DENIED_WORDS = frozenset(
    {
        # program type, level of care
        "iop", "php", "intensive", "outpatient", "inpatient", "residential", "ambulatory",
        "partial", "hospitalization", "rehab", "rehabilitation", "detox", "detoxification",
        "treatment", "treatments", "clinic", "clinical", "clinician", "program", "programme",
        # tracks, diagnoses
        "substance", "substances", "addiction", "addictions", "addicted", "addict", "addictive",
        "alcohol", "alcoholic", "alcoholism", "drug", "drugs", "opioid", "opioids", "narcotic",
        "narcotics", "dependence", "sud", "aud", "oud", "diagnosis", "diagnosed", "disorder",
        "disorders", "dual", "mental", "behavioral", "behavioural", "psychiatric", "psychiatry",
        "psychological", "psychology", "depression", "anxiety", "trauma", "bipolar",
        "schizophrenia", "suicide", "suicidal", "overdose",
        # recovery world
        "recovery", "recovering", "relapse", "sober", "sobriety", "abstinence", "abuse",
        "twelve", "12-step", "aa", "na",
        # modalities, clinical roles
        "therapy", "therapies", "therapist", "therapists", "therapeutic", "psychotherapy",
        "counseling", "counselling", "counselor", "counsellor", "cbt", "dbt", "mindfulness",
        "psychoeducation", "patient", "patients", "psychiatrist", "psychologist", "lcsw", "ladc",
        "cadc", "facilitator",
        # Spanish
        "intensivo", "ambulatorio", "ambulatoria", "hospitalizacion", "rehabilitacion",
        "desintoxicacion", "tratamiento", "tratamientos", "clinica", "clinico", "programa",
        "sustancia", "sustancias", "adiccion", "adicciones", "adicto", "adicta", "alcoholismo",
        "droga", "drogas", "opioides", "dependencia", "diagnostico", "trastorno", "trastornos",
        "salud", "conductual", "psiquiatrico", "psiquiatrica", "psiquiatria",
        "psicologico", "psicologica", "psicologia", "depresion", "ansiedad", "suicidio",
        "sobredosis", "recuperacion", "recaida", "sobrio", "sobria", "sobriedad",
        "abstinencia", "abuso", "terapia", "terapias", "terapeuta", "terapeutas",
        "terapeutico", "terapeutica", "psicoterapia", "consejeria", "consejero", "consejera",
        "paciente", "pacientes", "psiquiatra", "psicologo", "psicologa",
    }
)  # fmt: skip

# Stems that catch inflections the word list would miss ("addictions", "rehabbing").
DENIED_STEMS = ("addict", "adict", "rehab", "therap", "terap", "psych", "psiq", "sobri", "detox")


def fold(text: str) -> str:
    """Lower case without accents: "Terapéutico" -> "terapeutico"."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


_WORD = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")


def denied_terms(text: str) -> set[str]:
    """The denied words and stems found in `text` (empty when it is discreet)."""
    found: set[str] = set()
    for word in _WORD.findall(fold(text)):
        parts = {word, *word.split("-")}
        found |= parts & DENIED_WORDS
        found |= {word for stem in DENIED_STEMS if any(p.startswith(stem) for p in parts)}
    return found


def is_discreet(text: str) -> bool:
    return not denied_terms(text)
