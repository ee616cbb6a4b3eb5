"""Official action names of NTU RGB+D 60/120 and N-UCLA, as class lists.

NTU names are those of the NTU RGB+D 120 paper and the dataset's README (A1 ... A120), spelling
kept as published (A67 is "hush (quite)" there); apostrophes are ASCII. Label index = action id - 1.
NTU has no left/right mirror-pair classes, so ``mirror=()``: a horizontal flip keeps every label.

N-UCLA has 12 action ids of which the dataset ships 10 (a07 and a10 are absent); labels 0..9 follow
the ids in ascending order.

Sample names (which file is which sample) and the benchmark splits they decide are the datasets'
own: :mod:`edgeact.data.ntu.splits` and :mod:`edgeact.data.nucla`.
"""

from __future__ import annotations

from edgeact.data.classes import ClassList

NTU_ACTION_NAMES: tuple[str, ...] = (
    # A1 - A10
    "drink water",
    "eat meal/snack",
    "brushing teeth",
    "brushing hair",
    "drop",
    "pickup",
    "throw",
    "sitting down",
    "standing up (from sitting position)",
    "clapping",
    # A11 - A20
    "reading",
    "writing",
    "tear up paper",
    "wear jacket",
    "take off jacket",
    "wear a shoe",
    "take off a shoe",
    "wear on glasses",
    "take off glasses",
    "put on a hat/cap",
    # A21 - A30
    "take off a hat/cap",
    "cheer up",
    "hand waving",
    "kicking something",
    "reach into pocket",
    "hopping (one foot jumping)",
    "jump up",
    "make a phone call/answer phone",
    "playing with phone/tablet",
    "typing on a keyboard",
    # A31 - A40
    "pointing to something with finger",
    "taking a selfie",
    "check time (from watch)",
    "rub two hands together",
    "nod head/bow",
    "shake head",
    "wipe face",
    "salute",
    "put the palms together",
    "cross hands in front (say stop)",
    # A41 - A50
    "sneeze/cough",
    "staggering",
    "falling",
    "touch head (headache)",
    "touch chest (stomachache/heart pain)",
    "touch back (backache)",
    "touch neck (neckache)",
    "nausea or vomiting condition",
    "use a fan (with hand or paper)/feeling warm",
    "punching/slapping other person",
    # A51 - A60
    "kicking other person",
    "pushing other person",
    "pat on back of other person",
    "point finger at the other person",
    "hugging other person",
    "giving something to other person",
    "touch other person's pocket",
    "handshaking",
    "walking towards each other",
    "walking apart from each other",
    # A61 - A70 (NTU RGB+D 120 only from here on)
    "put on headphone",
    "take off headphone",
    "shoot at the basket",
    "bounce ball",
    "tennis bat swing",
    "juggling table tennis balls",
    "hush (quite)",
    "flick hair",
    "thumb up",
    "thumb down",
    # A71 - A80
    "make ok sign",
    "make victory sign",
    "staple book",
    "counting money",
    "cutting nails",
    "cutting paper (using scissors)",
    "snapping fingers",
    "open bottle",
    "sniff (smell)",
    "squat down",
    # A81 - A90
    "toss a coin",
    "fold paper",
    "ball up paper",
    "play magic cube",
    "apply cream on face",
    "apply cream on hand back",
    "put on bag",
    "take off bag",
    "put something into a bag",
    "take something out of a bag",
    # A91 - A100
    "open a box",
    "move heavy objects",
    "shake fist",
    "throw up cap/hat",
    "hands up (both hands)",
    "cross arms",
    "arm circles",
    "arm swings",
    "running on the spot",
    "butt kicks (kick backward)",
    # A101 - A110
    "cross toe touch",
    "side kick",
    "yawn",
    "stretch oneself",
    "blow nose",
    "hit other person with something",
    "wield knife towards other person",
    "knock over other person (hit with body)",
    "grab other person's stuff",
    "shoot at other person with a gun",
    # A111 - A120
    "step on foot",
    "high-five",
    "cheers and drink",
    "carry something with other person",
    "take a photo of other person",
    "follow other person",
    "whisper in other person's ear",
    "exchange things with other person",
    "support somebody with hand",
    "finger-guessing game (playing rock-paper-scissors)",
)

NTU60_CLASSES = ClassList(names=NTU_ACTION_NAMES[:60])
NTU120_CLASSES = ClassList(names=NTU_ACTION_NAMES)

# N-UCLA action id -> name; the dataset has no a07 or a10.
NUCLA_ACTIONS: dict[int, str] = {
    1: "pick up with one hand",
    2: "pick up with two hands",
    3: "drop trash",
    4: "walk around",
    5: "sit down",
    6: "stand up",
    8: "donning",
    9: "doffing",
    11: "throw",
    12: "carry",
}
NUCLA_ACTION_IDS: tuple[int, ...] = tuple(sorted(NUCLA_ACTIONS))
NUCLA_CLASSES = ClassList(names=tuple(NUCLA_ACTIONS[a] for a in NUCLA_ACTION_IDS))

__all__ = [
    "NTU_ACTION_NAMES", "NTU60_CLASSES", "NTU120_CLASSES",
    "NUCLA_ACTIONS", "NUCLA_ACTION_IDS", "NUCLA_CLASSES",
]
