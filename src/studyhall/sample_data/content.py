"""The fixed texts of the sample data: names, schools, the curriculum and study dialogue.

Plain lists instead of Faker: the same lists give the same rows on every machine and
every version, and the package needs no extra dependency.
"""

from __future__ import annotations

FIRST_NAMES = (
    "Amelia", "Noah", "Olivia", "Liam", "Sofia", "Mateo", "Aisha", "Lucas", "Chloe", "Ethan",
    "Mia", "Kenji", "Zara", "Oscar", "Leila", "Samuel", "Nora", "Ravi", "Elena", "Felix",
    "Hana", "Jonas", "Ines", "Tomas", "Maya", "Adam", "Priya", "Leo", "Grace", "Omar",
    "Ella", "Diego", "Freya", "Yusuf", "Alice", "Hugo", "Lina", "Arjun", "Clara", "Milo",
)  # fmt: skip

LAST_NAMES = (
    "Anderson", "Bauer", "Castillo", "Dubois", "Eriksen", "Fischer", "Garcia", "Hoffman",
    "Ibrahim", "Jensen", "Kowalski", "Larsen", "Moreau", "Nakamura", "Okafor", "Petrov",
    "Quinn", "Rossi", "Schmidt", "Tanaka", "Usman", "Varga", "Walsh", "Yilmaz", "Zhang",
    "Novak", "Silva", "Haddad", "Lindqvist", "Murphy",
)  # fmt: skip

# (name, its classes as (class name, grade level))
SCHOOLS = (
    ("Riverside Middle School", (("7A", 7), ("7B", 7))),
    ("Hillcrest Academy", (("8A", 8), ("8B", 8))),
)

SUBJECTS = (
    ("Mathematics", "Numbers, algebra, geometry and data."),
    ("Science", "How the natural world works, through observation and experiment."),
    ("English", "Reading, writing and speaking with clarity."),
    ("History", "How societies changed, and how we know."),
)

# (school index, subject name, course name, five unit titles); grade = the school's grade
COURSES = (
    (0, "Mathematics", "Mathematics 7", (
        "Integers and the Number Line", "Fractions and Decimals", "Ratios and Rates",
        "Simple Equations", "Area and Perimeter",
    )),
    (0, "Science", "Life Science 7", (
        "Cells", "Photosynthesis", "Food Chains", "The Human Body", "Ecosystems",
    )),
    (0, "English", "English 7", (
        "Reading for the Main Idea", "Paragraph Structure", "Figurative Language",
        "Writing a Narrative", "Persuasive Writing",
    )),
    (1, "Mathematics", "Mathematics 8", (
        "Linear Functions", "Systems of Equations", "The Pythagorean Theorem",
        "Exponents and Roots", "Statistics and Probability",
    )),
    (1, "Science", "Physical Science 8", (
        "Forces and Motion", "Energy", "Waves and Sound", "Electricity", "Matter and Atoms",
    )),
    (1, "History", "World History 8", (
        "Ancient River Civilizations", "Classical Greece", "The Roman Empire",
        "Medieval Trade Routes", "The Age of Exploration",
    )),
)  # fmt: skip

QUESTION_TEMPLATES = (
    "Which statement best describes {topic}?",
    "What is the most important idea in {topic}?",
    "Which example shows {topic} correctly?",
    "Which of these is a common mistake about {topic}?",
    "How would you explain {topic} to a classmate?",
)

CHOICE_TEMPLATES = (
    "The explanation given in the unit about {topic}.",
    "A statement that is only true in special cases.",
    "A statement that confuses {topic} with a different idea.",
    "None of the above.",
)

QA_TEMPLATES = (
    ("What does {topic} mean?", "{topic} is explained step by step in the unit notes; start "
     "with the definition and the first worked example."),
    ("Where is {topic} used outside school?", "Look for {topic} in everyday situations: the "
     "unit lists three examples from daily life."),
    ("How can I check my work on {topic}?", "Redo the problem another way, or explain your "
     "answer aloud; if both agree, you are probably right."),
)  # fmt: skip

STUDENT_LINES = (
    "Can you explain {topic} again? I did not get the last part.",
    "I think I understand {topic} now. Can I try an exercise?",
    "Here is my answer. Is it right?",
    "Why does that work?",
    "Could you give me a harder example?",
    "I got stuck on the second step.",
    "OK, that makes sense now. Thank you!",
)

TEACHER_LINES = (
    "Good question. Let's look at {topic} with a simple example first.",
    "Try this one: apply what you know about {topic} and tell me your reasoning.",
    "Almost! Check the second step again: what changed there?",
    "Exactly right. Can you say in your own words why it works?",
    "Here is a slightly harder one. Take your time.",
    "Let's break it into smaller steps. What is the first thing you notice?",
    "Well done. You are ready for the unit's assessment.",
)

FEEDBACK = (
    "Excellent work: clear reasoning on {topic} and no help needed on the last exercise.",
    "Good progress on {topic}; review the worked examples once more before the assessment.",
    "A solid start on {topic}. Practise the middle steps: most errors happened there.",
    "Needs more practice on {topic}. Revisit the unit notes and try the easy exercises first.",
)

TEACHER_PROMPT = (
    "You are a patient tutor for students aged 11 to 14. Explain one idea at a time, ask "
    "the student to try before you show a solution, and never give away assessment answers."
)

EVALUATOR_PROMPT = (
    "You evaluate a finished study session. Score the student's understanding from 0 to 100 "
    "and give two sentences of feedback: one strength and one thing to practise."
)


__all__ = [
    "CHOICE_TEMPLATES",
    "COURSES",
    "EVALUATOR_PROMPT",
    "FEEDBACK",
    "FIRST_NAMES",
    "LAST_NAMES",
    "QA_TEMPLATES",
    "QUESTION_TEMPLATES",
    "SCHOOLS",
    "STUDENT_LINES",
    "SUBJECTS",
    "TEACHER_LINES",
    "TEACHER_PROMPT",
]
