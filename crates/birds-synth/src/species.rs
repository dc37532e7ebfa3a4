//! The species: each one a fixed combination of parts, named like a bird.
//!
//! The first [`CATALOG`] entries are designed by hand, ordered so that every prefix mixes easy and hard classes:
//! several pairs differ in exactly one part (crest, wing bars, breast pattern, beak length, head colour, …), which is
//! what confusion matrices and "needs more training" rankings should find. Beyond the catalog, further species are
//! drawn from the parts deterministically (independent of the dataset seed) and named from their parts.

use std::collections::BTreeSet;

use serde::Serialize;

use crate::rng::Rng;

/// A named colour of the palette every species (and every distractor shape) draws from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
#[allow(missing_docs)]
pub enum Colour {
    Crimson,
    Scarlet,
    Orange,
    Gold,
    Olive,
    Green,
    Teal,
    Sky,
    Cobalt,
    Violet,
    Rose,
    Rust,
    Brown,
    Buff,
    Slate,
    Black,
    White,
}

impl Colour {
    /// Every colour, in palette order.
    pub const ALL: [Colour; 17] = [
        Colour::Crimson,
        Colour::Scarlet,
        Colour::Orange,
        Colour::Gold,
        Colour::Olive,
        Colour::Green,
        Colour::Teal,
        Colour::Sky,
        Colour::Cobalt,
        Colour::Violet,
        Colour::Rose,
        Colour::Rust,
        Colour::Brown,
        Colour::Buff,
        Colour::Slate,
        Colour::Black,
        Colour::White,
    ];

    /// sRGB value.
    pub fn rgb(self) -> [u8; 3] {
        match self {
            Colour::Crimson => [196, 22, 48],
            Colour::Scarlet => [238, 70, 30],
            Colour::Orange => [246, 146, 24],
            Colour::Gold => [244, 204, 36],
            Colour::Olive => [128, 136, 44],
            Colour::Green => [44, 152, 66],
            Colour::Teal => [22, 140, 142],
            Colour::Sky => [96, 172, 232],
            Colour::Cobalt => [34, 72, 190],
            Colour::Violet => [122, 62, 172],
            Colour::Rose => [232, 124, 164],
            Colour::Rust => [168, 82, 36],
            Colour::Brown => [104, 72, 44],
            Colour::Buff => [222, 194, 146],
            Colour::Slate => [98, 110, 126],
            Colour::Black => [26, 26, 30],
            Colour::White => [244, 244, 238],
        }
    }

    /// Upper-case adjective used in generated names.
    pub fn word(self) -> &'static str {
        match self {
            Colour::Crimson => "CRIMSON",
            Colour::Scarlet => "SCARLET",
            Colour::Orange => "ORANGE",
            Colour::Gold => "GOLDEN",
            Colour::Olive => "OLIVE",
            Colour::Green => "GREEN",
            Colour::Teal => "TEAL",
            Colour::Sky => "AZURE",
            Colour::Cobalt => "COBALT",
            Colour::Violet => "VIOLET",
            Colour::Rose => "ROSY",
            Colour::Rust => "RUFOUS",
            Colour::Brown => "BROWN",
            Colour::Buff => "BUFF",
            Colour::Slate => "SLATY",
            Colour::Black => "BLACK",
            Colour::White => "SNOWY",
        }
    }
}

/// Overall body outline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum BodyShape {
    /// Compact and round (finches, tits).
    Round,
    /// Long and thin (warblers, sandpipers).
    Slender,
    /// Large and heavy (thrushes, parrots).
    Plump,
}

/// Beak outline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum BeakShape {
    /// Short, deep seed-cracker.
    Conical,
    /// Thin and pointed (insect eaters).
    Thin,
    /// Hooked tip (parrots, shrikes).
    Hooked,
    /// Long, down-curved probe (sandpipers, sunbirds).
    Curved,
}

/// Beak length class.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum BeakLength {
    /// 0.7× the shape's normal length.
    Short,
    /// The shape's normal length.
    Medium,
    /// 1.6× the shape's normal length.
    Long,
}

impl BeakLength {
    /// Multiplier on the beak shape's normal length.
    pub fn factor(self) -> f32 {
        match self {
            BeakLength::Short => 0.7,
            BeakLength::Medium => 1.0,
            BeakLength::Long => 1.6,
        }
    }
}

/// Tail outline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TailShape {
    /// A short wedge.
    Short,
    /// Long and narrow.
    Long,
    /// Swallow-like fork.
    Forked,
    /// Wide fan.
    Fan,
}

/// Pattern on the breast (the lower front of the body).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase", tag = "kind", content = "colour")]
pub enum Breast {
    /// Body colour only.
    Plain,
    /// A solid patch of another colour.
    Patch(Colour),
    /// Round spots.
    Spotted(Colour),
    /// Short vertical streaks.
    Streaked(Colour),
    /// Horizontal bands across the breast (species beyond the first 200 only).
    Barred(Colour),
}

/// One species: a label, a made-up scientific name, and its parts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Species {
    /// Upper-case label, also the folder name (e.g. `CRIMSON CRESTED FINCH`).
    pub label: String,
    /// Made-up binomial for the CSV's `scientific name` column (upper case, like Kaggle's).
    pub scientific_name: String,
    /// Body outline.
    pub body: BodyShape,
    /// Body colour.
    pub body_colour: Colour,
    /// Head colour.
    pub head_colour: Colour,
    /// Beak outline.
    pub beak: BeakShape,
    /// Beak length class.
    pub beak_length: BeakLength,
    /// Beak colour.
    pub beak_colour: Colour,
    /// Wing (and tail) colour.
    pub wing_colour: Colour,
    /// Two pale bars across the wing.
    pub wing_bars: bool,
    /// Tail outline.
    pub tail: TailShape,
    /// Crest colour, or none.
    pub crest: Option<Colour>,
    /// A pale ring around the eye.
    pub eye_ring: bool,
    /// Breast pattern.
    pub breast: Breast,
    /// A stripe of this colour through the eye (a "mask"), or none. Species beyond the first 200 only; absent
    /// from `species.json` when none, so the first 200 serialise as before.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub eye_stripe: Option<Colour>,
    /// A band of this colour around the neck, or none (species beyond the first 200 only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub collar: Option<Colour>,
    /// A cap of this colour on the crown, or none (species beyond the first 200 only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cap: Option<Colour>,
}

/// The parts that define a species, as `(part name, value)` pairs in a fixed order.
pub const PART_NAMES: [&str; 15] = [
    "body shape",
    "body colour",
    "head colour",
    "beak shape",
    "beak length",
    "beak colour",
    "wing colour",
    "wing bars",
    "tail shape",
    "crest",
    "eye ring",
    "breast",
    "eye stripe",
    "collar",
    "cap",
];

impl Species {
    /// The part values in [`PART_NAMES`] order, as short strings.
    pub fn parts(&self) -> [String; 15] {
        [
            format!("{:?}", self.body),
            format!("{:?}", self.body_colour),
            format!("{:?}", self.head_colour),
            format!("{:?}", self.beak),
            format!("{:?}", self.beak_length),
            format!("{:?}", self.beak_colour),
            format!("{:?}", self.wing_colour),
            format!("{:?}", self.wing_bars),
            format!("{:?}", self.tail),
            format!("{:?}", self.crest),
            format!("{:?}", self.eye_ring),
            format!("{:?}", self.breast),
            format!("{:?}", self.eye_stripe),
            format!("{:?}", self.collar),
            format!("{:?}", self.cap),
        ]
    }

    /// Names of the parts in which `self` and `other` differ.
    pub fn differences(&self, other: &Species) -> Vec<&'static str> {
        let (a, b) = (self.parts(), other.parts());
        PART_NAMES
            .iter()
            .zip(a.iter().zip(b.iter()))
            .filter(|(_, (x, y))| x != y)
            .map(|(name, _)| *name)
            .collect()
    }

    /// Every colour the species shows (for distractor palettes and mask checks).
    pub fn colours(&self) -> Vec<Colour> {
        let mut c = vec![
            self.body_colour,
            self.head_colour,
            self.beak_colour,
            self.wing_colour,
        ];
        c.extend(self.crest);
        c.extend(self.eye_stripe);
        c.extend(self.collar);
        c.extend(self.cap);
        match self.breast {
            Breast::Plain => {}
            Breast::Patch(x) | Breast::Spotted(x) | Breast::Streaked(x) | Breast::Barred(x) => {
                c.push(x)
            }
        }
        if self.wing_bars || self.eye_ring {
            c.push(Colour::White);
        }
        c.sort();
        c.dedup();
        c
    }
}

/// A catalog row (compact, so the table reads like a field guide).
struct Row {
    label: &'static str,
    scientific: &'static str,
    body: BodyShape,
    body_colour: Colour,
    head_colour: Colour,
    beak: (BeakShape, BeakLength, Colour),
    wing: (Colour, bool),
    tail: TailShape,
    crest: Option<Colour>,
    eye_ring: bool,
    breast: Breast,
}

use BeakLength::{Long, Medium, Short};
use BeakShape::{Conical, Curved, Hooked, Thin};
use BodyShape::{Plump, Round, Slender};
use Breast::{Barred, Patch, Plain, Spotted, Streaked};
use Colour::*;
use TailShape::{Fan, Forked, Long as LongTail, Short as ShortTail};

/// The hand-designed species, in the order `classes = N` takes them. Pairs differing in exactly one part:
/// 0/1 (crest), 2/3 (wing bars), 4/5 (breast pattern), 8/9 (head colour), 10/11 (beak length), 14/15 (body colour),
/// 18/19 (eye ring), 20/21 (tail shape).
const CATALOG: &[Row] = &[
    Row {
        label: "CRIMSON CRESTED FINCH",
        scientific: "CARDUELIS CRISTATA",
        body: Round,
        body_colour: Crimson,
        head_colour: Crimson,
        beak: (Conical, Medium, Buff),
        wing: (Black, true),
        tail: Forked,
        crest: Some(Crimson),
        eye_ring: false,
        breast: Plain,
    },
    Row {
        label: "CRIMSON FINCH",
        scientific: "CARDUELIS SANGUINEA",
        body: Round,
        body_colour: Crimson,
        head_colour: Crimson,
        beak: (Conical, Medium, Buff),
        wing: (Black, true),
        tail: Forked,
        crest: None,
        eye_ring: false,
        breast: Plain,
    },
    Row {
        label: "AZURE WARBLER",
        scientific: "SETOPHAGA CAERULEA",
        body: Slender,
        body_colour: Sky,
        head_colour: Cobalt,
        beak: (Thin, Medium, Black),
        wing: (Cobalt, false),
        tail: LongTail,
        crest: None,
        eye_ring: true,
        breast: Patch(White),
    },
    Row {
        label: "BARRED AZURE WARBLER",
        scientific: "SETOPHAGA FASCIATA",
        body: Slender,
        body_colour: Sky,
        head_colour: Cobalt,
        beak: (Thin, Medium, Black),
        wing: (Cobalt, true),
        tail: LongTail,
        crest: None,
        eye_ring: true,
        breast: Patch(White),
    },
    Row {
        label: "SPECKLED THRUSH",
        scientific: "TURDUS MACULATUS",
        body: Plump,
        body_colour: Buff,
        head_colour: Brown,
        beak: (Thin, Medium, Gold),
        wing: (Brown, false),
        tail: Fan,
        crest: None,
        eye_ring: true,
        breast: Spotted(Black),
    },
    Row {
        label: "STREAKED THRUSH",
        scientific: "TURDUS STRIATUS",
        body: Plump,
        body_colour: Buff,
        head_colour: Brown,
        beak: (Thin, Medium, Gold),
        wing: (Brown, false),
        tail: Fan,
        crest: None,
        eye_ring: true,
        breast: Streaked(Black),
    },
    Row {
        label: "SCARLET HOOKBILL",
        scientific: "ARA COCCINEA",
        body: Plump,
        body_colour: Scarlet,
        head_colour: Gold,
        beak: (Hooked, Long, Slate),
        wing: (Green, false),
        tail: LongTail,
        crest: None,
        eye_ring: true,
        breast: Plain,
    },
    Row {
        label: "SLATY SANDPIPER",
        scientific: "CALIDRIS SCHISTACEA",
        body: Slender,
        body_colour: Slate,
        head_colour: Slate,
        beak: (Curved, Long, Black),
        wing: (Brown, true),
        tail: ShortTail,
        crest: None,
        eye_ring: false,
        breast: Streaked(White),
    },
    Row {
        label: "VIOLET SUNBIRD",
        scientific: "NECTARINIA VIOLACEA",
        body: Slender,
        body_colour: Violet,
        head_colour: Teal,
        beak: (Curved, Medium, Black),
        wing: (Black, false),
        tail: LongTail,
        crest: None,
        eye_ring: false,
        breast: Patch(Orange),
    },
    Row {
        label: "GOLDEN HEADED SUNBIRD",
        scientific: "NECTARINIA AUREICEPS",
        body: Slender,
        body_colour: Violet,
        head_colour: Gold,
        beak: (Curved, Medium, Black),
        wing: (Black, false),
        tail: LongTail,
        crest: None,
        eye_ring: false,
        breast: Patch(Orange),
    },
    Row {
        label: "RUFOUS KINGFISHER",
        scientific: "ALCEDO RUFA",
        body: Plump,
        body_colour: Rust,
        head_colour: Teal,
        beak: (Thin, Long, Black),
        wing: (Teal, false),
        tail: ShortTail,
        crest: None,
        eye_ring: false,
        breast: Plain,
    },
    Row {
        label: "SHORT BILLED KINGFISHER",
        scientific: "ALCEDO BREVIROSTRIS",
        body: Plump,
        body_colour: Rust,
        head_colour: Teal,
        beak: (Thin, Short, Black),
        wing: (Teal, false),
        tail: ShortTail,
        crest: None,
        eye_ring: false,
        breast: Plain,
    },
    Row {
        label: "INDIGO JAY",
        scientific: "CYANOCITTA INDIGO",
        body: Plump,
        body_colour: Cobalt,
        head_colour: Cobalt,
        beak: (Conical, Long, Black),
        wing: (Sky, true),
        tail: LongTail,
        crest: Some(Cobalt),
        eye_ring: false,
        breast: Patch(White),
    },
    Row {
        label: "OLIVE VIREO",
        scientific: "VIREO OLIVACEUS",
        body: Slender,
        body_colour: Olive,
        head_colour: Slate,
        beak: (Thin, Short, Slate),
        wing: (Olive, true),
        tail: ShortTail,
        crest: None,
        eye_ring: true,
        breast: Patch(Gold),
    },
    Row {
        label: "SNOWY BUNTING",
        scientific: "PLECTROPHENAX NIVEUS",
        body: Round,
        body_colour: White,
        head_colour: White,
        beak: (Conical, Short, Gold),
        wing: (Black, false),
        tail: Forked,
        crest: None,
        eye_ring: false,
        breast: Plain,
    },
    Row {
        label: "CINNAMON BUNTING",
        scientific: "PLECTROPHENAX CINNAMOMEUS",
        body: Round,
        body_colour: Rust,
        head_colour: White,
        beak: (Conical, Short, Gold),
        wing: (Black, false),
        tail: Forked,
        crest: None,
        eye_ring: false,
        breast: Plain,
    },
    Row {
        label: "GOLDEN ORIOLE",
        scientific: "ORIOLUS AUREUS",
        body: Slender,
        body_colour: Gold,
        head_colour: Gold,
        beak: (Thin, Medium, Rose),
        wing: (Black, true),
        tail: ShortTail,
        crest: None,
        eye_ring: false,
        breast: Plain,
    },
    Row {
        label: "ROSY GROSBEAK",
        scientific: "PHEUCTICUS ROSEUS",
        body: Round,
        body_colour: Rose,
        head_colour: Black,
        beak: (Conical, Long, White),
        wing: (Black, true),
        tail: Fan,
        crest: None,
        eye_ring: false,
        breast: Patch(Crimson),
    },
    Row {
        label: "BLACK CAPPED TIT",
        scientific: "POECILE ATRICAPILLA",
        body: Round,
        body_colour: Slate,
        head_colour: Black,
        beak: (Thin, Short, Black),
        wing: (Slate, false),
        tail: LongTail,
        crest: None,
        eye_ring: false,
        breast: Patch(Buff),
    },
    Row {
        label: "SPECTACLED TIT",
        scientific: "POECILE CONSPICILLATA",
        body: Round,
        body_colour: Slate,
        head_colour: Black,
        beak: (Thin, Short, Black),
        wing: (Slate, false),
        tail: LongTail,
        crest: None,
        eye_ring: true,
        breast: Patch(Buff),
    },
    Row {
        label: "EMBER TANAGER",
        scientific: "PIRANGA IGNEA",
        body: Round,
        body_colour: Orange,
        head_colour: Black,
        beak: (Conical, Medium, Slate),
        wing: (Black, false),
        tail: Forked,
        crest: None,
        eye_ring: false,
        breast: Plain,
    },
    Row {
        label: "FAN TAILED TANAGER",
        scientific: "PIRANGA FLABELLATA",
        body: Round,
        body_colour: Orange,
        head_colour: Black,
        beak: (Conical, Medium, Slate),
        wing: (Black, false),
        tail: Fan,
        crest: None,
        eye_ring: false,
        breast: Plain,
    },
    Row {
        label: "MOSS SHRIKE",
        scientific: "LANIUS MUSCOSUS",
        body: Slender,
        body_colour: Green,
        head_colour: White,
        beak: (Hooked, Short, Black),
        wing: (Olive, false),
        tail: LongTail,
        crest: None,
        eye_ring: false,
        breast: Streaked(Olive),
    },
    Row {
        label: "TEAL CRESTED COCKATOO",
        scientific: "CACATUA TURQUOISA",
        body: Plump,
        body_colour: White,
        head_colour: White,
        beak: (Hooked, Medium, Slate),
        wing: (White, false),
        tail: Fan,
        crest: Some(Teal),
        eye_ring: true,
        breast: Plain,
    },
];

/// Number of hand-designed species; larger class counts add generated species.
pub const CATALOG_LEN: usize = CATALOG.len();

/// Largest number of species [`species`] can produce.
pub const MAX_SPECIES: usize = 1000;

/// The first this many species (catalog + first generator) are those of earlier birds versions, byte for byte;
/// species beyond it come from the second generator, which also draws eye stripes, collars, caps and barred
/// breasts, keeps every species at least [`MIN_DISTANCE`] visible parts away from all others, and plants
/// look-alike twins that differ from one earlier species in one visible part.
pub const FIRST_GENERATION: usize = 200;

/// Least number of visible parts (every part but beak colour) in which a second-generation species differs from
/// every other species, its twin excepted.
pub const MIN_DISTANCE: usize = 2;

/// Every how many second-generation species one is a look-alike twin of the species before it.
pub const TWIN_EVERY: usize = 6;

fn from_row(r: &Row) -> Species {
    Species {
        label: r.label.to_string(),
        scientific_name: r.scientific.to_string(),
        body: r.body,
        body_colour: r.body_colour,
        head_colour: r.head_colour,
        beak: r.beak.0,
        beak_length: r.beak.1,
        beak_colour: r.beak.2,
        wing_colour: r.wing.0,
        wing_bars: r.wing.1,
        tail: r.tail,
        crest: r.crest,
        eye_ring: r.eye_ring,
        breast: r.breast,
        eye_stripe: None,
        collar: None,
        cap: None,
    }
}

fn family(beak: BeakShape, body: BodyShape) -> &'static str {
    match (beak, body) {
        (Conical, Round) => "FINCH",
        (Conical, Slender) => "BUNTING",
        (Conical, Plump) => "GROSBEAK",
        (Thin, Round) => "TIT",
        (Thin, Slender) => "WARBLER",
        (Thin, Plump) => "THRUSH",
        (Hooked, Round) => "PARROTLET",
        (Hooked, Slender) => "SHRIKE",
        (Hooked, Plump) => "PARROT",
        (Curved, Round) => "HONEYEATER",
        (Curved, Slender) => "SUNBIRD",
        (Curved, Plump) => "CURLEW",
    }
}

fn generated(index: usize) -> Species {
    let mut rng = crate::rng::derive("species", &[index as u64]);
    let colour = |rng: &mut Rng| Colour::ALL[rng.below(Colour::ALL.len())];
    let body = [Round, Slender, Plump][rng.below(3)];
    let body_colour = colour(&mut rng);
    let head_colour = if rng.chance(0.5) {
        body_colour
    } else {
        colour(&mut rng)
    };
    let beak = [Conical, Thin, Hooked, Curved][rng.below(4)];
    let beak_length = [Short, Medium, Long][rng.below(3)];
    let beak_colour = [Black, Slate, Buff, Gold, Orange, White][rng.below(6)];
    let wing_colour = colour(&mut rng);
    let wing_bars = rng.chance(0.35);
    let tail = [ShortTail, LongTail, Forked, Fan][rng.below(4)];
    let crest = rng.chance(0.25).then(|| colour(&mut rng));
    let eye_ring = rng.chance(0.3);
    let breast = match rng.below(4) {
        0 => Plain,
        1 => Patch(colour(&mut rng)),
        2 => Spotted(colour(&mut rng)),
        _ => Streaked(colour(&mut rng)),
    };
    let mut words = vec![body_colour.word()];
    if crest.is_some() {
        words.push("CRESTED");
    } else if matches!(breast, Spotted(_)) {
        words.push("SPOTTED");
    } else if matches!(breast, Streaked(_)) {
        words.push("STREAKED");
    } else if wing_bars {
        words.push("BARRED");
    } else if eye_ring {
        words.push("SPECTACLED");
    }
    if head_colour != body_colour {
        words.push(head_colour.word());
        words.push("HEADED");
    }
    words.push(family(beak, body));
    let label = words.join(" ");
    Species {
        scientific_name: format!("SYNTHETICA SPECIES {}", index + 1),
        label,
        body,
        body_colour,
        head_colour,
        beak,
        beak_length,
        beak_colour,
        wing_colour,
        wing_bars,
        tail,
        crest,
        eye_ring,
        breast,
        eye_stripe: None,
        collar: None,
        cap: None,
    }
}

/// Parts in which two species differ that show at a glance (every part but beak colour, which is a few pixels).
pub fn visible_differences(a: &Species, b: &Species) -> usize {
    visible_parts_apart(&a.parts(), &b.parts())
}

fn visible_parts_apart(x: &[String; 15], y: &[String; 15]) -> usize {
    PART_NAMES
        .iter()
        .zip(x.iter().zip(y.iter()))
        .filter(|(name, (p, q))| **name != "beak colour" && p != q)
        .count()
}

/// The look-alike of each species of `list` among the others (list indices; `None` for a list of one): the one
/// nearest in looks, that is the fewest visible parts apart (every part but beak colour, as
/// [`visible_differences`]), then the fewest parts apart of all fifteen ([`Species::differences`]), then the
/// earliest in `list`. A species' twin (a designed pair of the catalog, a second-generation twin: one part apart,
/// as `species.json`'s `differs_in_one_part_from`) is therefore its look-alike whenever it is in `list`: nothing is
/// closer than one part. Without a twin it is the nearest species by those counts, and with no near one, still
/// some other species. Depends on `list` only (not on any seed). Used by planted label errors.
pub fn look_alikes(list: &[Species]) -> Vec<Option<usize>> {
    let parts: Vec<[String; 15]> = list.iter().map(Species::parts).collect();
    let apart = |x: &[String; 15], y: &[String; 15]| {
        let all = x.iter().zip(y.iter()).filter(|(p, q)| p != q).count();
        (visible_parts_apart(x, y), all)
    };
    parts
        .iter()
        .enumerate()
        .map(|(i, x)| {
            parts
                .iter()
                .enumerate()
                .filter(|&(j, _)| j != i)
                .min_by_key(|&(j, y)| (apart(x, y), j))
                .map(|(j, _)| j)
        })
        .collect()
}

/// Second-generation species `index`: the first generator's parts plus eye stripe, collar, cap and barred breast.
fn generated_v2(index: usize) -> Species {
    let mut rng = crate::rng::derive("species-v2", &[index as u64]);
    let colour = |rng: &mut Rng| Colour::ALL[rng.below(Colour::ALL.len())];
    let body = [Round, Slender, Plump][rng.below(3)];
    let body_colour = colour(&mut rng);
    let head_colour = if rng.chance(0.45) {
        body_colour
    } else {
        colour(&mut rng)
    };
    let beak = [Conical, Thin, Hooked, Curved][rng.below(4)];
    let beak_length = [Short, Medium, Long][rng.below(3)];
    let beak_colour = [Black, Slate, Buff, Gold, Orange, White][rng.below(6)];
    let wing_colour = colour(&mut rng);
    let wing_bars = rng.chance(0.3);
    let tail = [ShortTail, LongTail, Forked, Fan][rng.below(4)];
    let crest = rng.chance(0.2).then(|| colour(&mut rng));
    let eye_ring = rng.chance(0.25);
    let breast = match rng.below(5) {
        0 => Plain,
        1 => Patch(colour(&mut rng)),
        2 => Spotted(colour(&mut rng)),
        3 => Streaked(colour(&mut rng)),
        _ => Barred(colour(&mut rng)),
    };
    let eye_stripe = rng
        .chance(0.25)
        .then(|| [Black, Brown, White, Slate, Rust][rng.below(5)]);
    let collar = rng.chance(0.2).then(|| colour(&mut rng));
    let cap = rng.chance(0.25).then(|| colour(&mut rng));
    let mut s = Species {
        scientific_name: format!("SYNTHETICA SPECIES {}", index + 1),
        label: String::new(),
        body,
        body_colour,
        head_colour,
        beak,
        beak_length,
        beak_colour,
        wing_colour,
        wing_bars,
        tail,
        crest,
        eye_ring,
        breast,
        eye_stripe,
        collar,
        cap,
    };
    s.label = name_v2(&s);
    s
}

/// A twin of `base` that differs in one visible part, the part chosen by `k`.
fn twin_of(base: &Species, index: usize, k: usize) -> Species {
    let mut s = base.clone();
    s.scientific_name = format!("SYNTHETICA SPECIES {}", index + 1);
    let other = |c: Option<Colour>, pick: Colour| match c {
        Some(_) => None,
        None => Some(pick),
    };
    match k % 6 {
        0 => s.eye_stripe = other(s.eye_stripe, Colour::Black),
        1 => s.collar = other(s.collar, Colour::White),
        2 => s.cap = other(s.cap, Colour::Black),
        3 => {
            s.breast = match s.breast {
                Plain => Barred(Colour::Brown),
                Patch(c) => Spotted(c),
                Spotted(c) => Barred(c),
                Streaked(c) => Barred(c),
                Barred(c) => Streaked(c),
            }
        }
        4 => s.wing_bars = !s.wing_bars,
        _ => {
            s.tail = match s.tail {
                ShortTail => Forked,
                LongTail => Fan,
                Forked => LongTail,
                Fan => ShortTail,
            }
        }
    }
    s.label = name_v2(&s);
    s
}

/// A name from the parts: body colour, the most salient mark, head colour, family.
fn name_v2(s: &Species) -> String {
    let mut words: Vec<String> = vec![s.body_colour.word().to_string()];
    if s.crest.is_some() {
        words.push("CRESTED".into());
    } else if let Some(c) = s.cap {
        words.push(format!("{} CAPPED", c.word()));
    } else if s.eye_stripe.is_some() {
        words.push("MASKED".into());
    } else if s.collar.is_some() {
        words.push("COLLARED".into());
    } else if matches!(s.breast, Barred(_)) {
        words.push("BANDED".into());
    } else if matches!(s.breast, Spotted(_)) {
        words.push("SPOTTED".into());
    } else if matches!(s.breast, Streaked(_)) {
        words.push("STREAKED".into());
    } else if s.wing_bars {
        words.push("BARRED".into());
    } else if s.eye_ring {
        words.push("SPECTACLED".into());
    }
    if s.head_colour != s.body_colour && s.cap.is_none() {
        words.push(format!("{} HEADED", s.head_colour.word()));
    }
    words.push(family_v2(s).into());
    words.join(" ")
}

/// Families of the second generation: the first generator's, with the tail splitting some of them.
fn family_v2(s: &Species) -> &'static str {
    match (s.beak, s.body, s.tail) {
        (Conical, Round, Forked) => "SEEDEATER",
        (Conical, Slender, LongTail) => "SPARROW",
        (Thin, Slender, Forked) => "SWALLOW",
        (Thin, Round, Fan) => "FANTAIL",
        (Thin, Plump, LongTail) => "MOCKINGBIRD",
        (Hooked, Plump, LongTail) => "MACAW",
        (Hooked, Round, ShortTail) => "LOVEBIRD",
        (Curved, Slender, Fan) => "HUMMINGBIRD",
        (Curved, Plump, ShortTail) => "IBIS",
        _ => family(s.beak, s.body),
    }
}

/// Gives `s` a label not in `labels`: a repeated name gets a numeral, as field guides do with races.
fn unique_label(s: &mut Species, labels: &BTreeSet<String>) {
    if labels.contains(&s.label) {
        let mut k = 2;
        while labels.contains(&format!("{} {}", s.label, roman(k))) {
            k += 1;
        }
        s.label = format!("{} {}", s.label, roman(k));
    }
}

/// The first `n` species (`n ≤ MAX_SPECIES`, else `None`): the catalog first, then generated species whose labels
/// and part combinations are unique; beyond [`FIRST_GENERATION`], the second generator (see there). Independent of
/// any dataset seed, and every `species(n)` is a prefix of `species(MAX_SPECIES)`.
pub fn species(n: usize) -> Option<Vec<Species>> {
    if n > MAX_SPECIES {
        return None;
    }
    let mut out: Vec<Species> = CATALOG.iter().take(n).map(from_row).collect();
    let mut labels: BTreeSet<String> = out.iter().map(|s| s.label.clone()).collect();
    let mut combos: BTreeSet<[String; 15]> = out.iter().map(Species::parts).collect();
    let mut index = CATALOG.len();
    while out.len() < n.min(FIRST_GENERATION) {
        let mut s = generated(index);
        index += 1;
        if combos.contains(&s.parts()) {
            continue;
        }
        unique_label(&mut s, &labels);
        labels.insert(s.label.clone());
        combos.insert(s.parts());
        out.push(s);
    }
    let mut parts: Vec<[String; 15]> = out.iter().map(Species::parts).collect();
    let far_from = |c: &[String; 15], parts: &[[String; 15]], except: Option<usize>| {
        parts
            .iter()
            .enumerate()
            .all(|(i, o)| Some(i) == except || visible_parts_apart(c, o) >= MIN_DISTANCE)
    };
    let mut index = FIRST_GENERATION;
    let mut twins = 0;
    while out.len() < n {
        let second = out.len() - FIRST_GENERATION;
        let mut chosen = None;
        if second % TWIN_EVERY == TWIN_EVERY - 1 {
            // A look-alike of the species before it; the first of the six kinds of twin that stays clear of the rest.
            let base = out.len() - 1;
            let first = twins;
            for k in first..first + 6 {
                let t = twin_of(&out[base], index, k);
                let c = t.parts();
                if !combos.contains(&c) && far_from(&c, &parts, Some(base)) {
                    twins = k + 1;
                    chosen = Some((t, c));
                    break;
                }
            }
        }
        let (mut s, c) = match chosen {
            Some(x) => x,
            None => {
                let s = generated_v2(index);
                let c = s.parts();
                if combos.contains(&c) || !far_from(&c, &parts, None) {
                    index += 1;
                    continue;
                }
                (s, c)
            }
        };
        index += 1;
        unique_label(&mut s, &labels);
        labels.insert(s.label.clone());
        combos.insert(c.clone());
        parts.push(c);
        out.push(s);
    }
    Some(out)
}

fn roman(mut n: usize) -> String {
    const TABLE: [(usize, &str); 9] = [
        (100, "C"),
        (90, "XC"),
        (50, "L"),
        (40, "XL"),
        (10, "X"),
        (9, "IX"),
        (5, "V"),
        (4, "IV"),
        (1, "I"),
    ];
    let mut s = String::new();
    for (v, r) in TABLE {
        while n >= v {
            s.push_str(r);
            n -= v;
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_pair_differs_and_designed_pairs_differ_in_one_part() {
        let all = species(MAX_SPECIES).unwrap_or_default();
        assert_eq!(all.len(), MAX_SPECIES);
        let parts: Vec<[String; 15]> = all.iter().map(Species::parts).collect();
        let labels: BTreeSet<&str> = all.iter().map(|s| s.label.as_str()).collect();
        assert_eq!(labels.len(), all.len(), "labels repeat");
        let combos: BTreeSet<&[String; 15]> = parts.iter().collect();
        assert_eq!(combos.len(), all.len(), "two species share every part");
        for a in &all {
            assert_eq!(a.label, a.label.to_uppercase());
            assert!(!a.label.contains("  "), "{}", a.label);
        }
        for (x, y, part) in [
            (0, 1, "crest"),
            (2, 3, "wing bars"),
            (4, 5, "breast"),
            (8, 9, "head colour"),
            (10, 11, "beak length"),
            (14, 15, "body colour"),
            (18, 19, "eye ring"),
            (20, 21, "tail shape"),
        ] {
            assert_eq!(all[x].differences(&all[y]), vec![part], "{x}/{y}");
        }
        assert!(species(MAX_SPECIES + 1).is_none());
        assert_eq!(species(3).map(|s| s.len()), Some(3));
    }

    #[test]
    fn second_generation_keeps_apart_and_plants_twins() {
        let all = species(600).unwrap_or_default();
        assert_eq!(all.len(), 600);
        // Every species(n) is a prefix of the longer lists (the first generation is what it was).
        assert_eq!(
            species(FIRST_GENERATION).as_deref(),
            Some(&all[..FIRST_GENERATION])
        );
        assert_eq!(species(525).as_deref(), Some(&all[..525]));
        let first = &all[..FIRST_GENERATION];
        assert!(first.iter().all(|s| s.eye_stripe.is_none()
            && s.collar.is_none()
            && s.cap.is_none()
            && !matches!(s.breast, Barred(_))));
        let second = &all[FIRST_GENERATION..];
        for part in [
            |s: &Species| s.eye_stripe.is_some(),
            |s: &Species| s.collar.is_some(),
            |s: &Species| s.cap.is_some(),
            |s: &Species| matches!(s.breast, Barred(_)),
        ] {
            let n = second.iter().filter(|s| part(s)).count();
            assert!(n > 30, "a new part on only {n} of {} species", second.len());
        }
        let mut twins = 0;
        for (i, a) in all.iter().enumerate().skip(FIRST_GENERATION) {
            let mut close = Vec::new();
            for (j, b) in all.iter().enumerate() {
                if i != j && visible_differences(a, b) < MIN_DISTANCE {
                    close.push(j);
                }
            }
            // Only a planted twin is closer than MIN_DISTANCE, and it differs in exactly one visible part.
            assert!(close.len() <= 2, "{} is close to {close:?}", a.label);
            for j in close {
                assert!(j + 1 == i || i + 1 == j, "{} close to #{j}", a.label);
                assert_eq!(visible_differences(a, &all[j]), 1);
                if j + 1 == i {
                    twins += 1;
                }
            }
            assert!(a.label.len() <= 60, "{}", a.label);
        }
        assert!(
            twins >= (600 - FIRST_GENERATION) / TWIN_EVERY - 5,
            "{twins} twins"
        );
    }

    #[test]
    fn look_alikes_are_the_twins_when_there_are_some() {
        let all = species(MAX_SPECIES).unwrap_or_default();
        let look = look_alikes(&all);
        assert_eq!(look.len(), all.len());
        // The designed pairs pick each other.
        for (x, y) in [
            (0, 1),
            (2, 3),
            (4, 5),
            (8, 9),
            (10, 11),
            (14, 15),
            (18, 19),
            (20, 21),
        ] {
            assert_eq!((look[x], look[y]), (Some(y), Some(x)), "{x}/{y}");
        }
        // A second-generation twin picks the species it was made from.
        for (i, a) in all.iter().enumerate().skip(FIRST_GENERATION) {
            if visible_differences(a, &all[i - 1]) == 1 && a.differences(&all[i - 1]).len() == 1 {
                assert_eq!(look[i], Some(i - 1), "{}", a.label);
            }
        }
        // Never itself; within a prefix the look-alike is in the prefix; nearest by the stated counts.
        let few = species(7).unwrap_or_default();
        let look7 = look_alikes(&few);
        for (i, l) in look7.iter().enumerate() {
            let j = l.unwrap_or(i);
            assert!(j != i && j < 7);
            let key = |k: usize| {
                (
                    visible_differences(&few[i], &few[k]),
                    few[i].differences(&few[k]).len(),
                )
            };
            assert!((0..7).filter(|&k| k != i).all(|k| key(j) <= key(k)));
        }
        assert_eq!(look_alikes(&all[..1]), vec![None]);
    }

    #[test]
    fn roman_numerals() {
        assert_eq!(roman(4), "IV");
        assert_eq!(roman(19), "XIX");
        assert_eq!(roman(94), "XCIV");
    }
}
