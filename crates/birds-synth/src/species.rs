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
}

/// The parts that define a species, as `(part name, value)` pairs in a fixed order.
pub const PART_NAMES: [&str; 12] = [
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
];

impl Species {
    /// The part values in [`PART_NAMES`] order, as short strings.
    pub fn parts(&self) -> [String; 12] {
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
        if let Some(crest) = self.crest {
            c.push(crest);
        }
        match self.breast {
            Breast::Plain => {}
            Breast::Patch(x) | Breast::Spotted(x) | Breast::Streaked(x) => c.push(x),
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
use Breast::{Patch, Plain, Spotted, Streaked};
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
pub const MAX_SPECIES: usize = 200;

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
    let mut rng = Rng::derive("species", &[index as u64]);
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
    }
}

/// The first `n` species (`n ≤ MAX_SPECIES`, else `None`): the catalog first, then generated species whose labels
/// and part combinations are unique. Independent of any dataset seed.
pub fn species(n: usize) -> Option<Vec<Species>> {
    if n > MAX_SPECIES {
        return None;
    }
    let mut out: Vec<Species> = CATALOG.iter().take(n).map(from_row).collect();
    let mut labels: BTreeSet<String> = out.iter().map(|s| s.label.clone()).collect();
    let mut combos: BTreeSet<[String; 12]> = out.iter().map(Species::parts).collect();
    let mut index = CATALOG.len();
    while out.len() < n {
        let mut s = generated(index);
        index += 1;
        if combos.contains(&s.parts()) {
            continue;
        }
        if labels.contains(&s.label) {
            // Same name, different parts: tell them apart by number, as field guides do with races.
            let mut k = 2;
            while labels.contains(&format!("{} {}", s.label, roman(k))) {
                k += 1;
            }
            s.label = format!("{} {}", s.label, roman(k));
        }
        labels.insert(s.label.clone());
        combos.insert(s.parts());
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
        for (i, a) in all.iter().enumerate() {
            for b in &all[i + 1..] {
                assert!(
                    !a.differences(b).is_empty(),
                    "{} and {} share every part",
                    a.label,
                    b.label
                );
                assert_ne!(a.label, b.label);
            }
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
    fn roman_numerals() {
        assert_eq!(roman(4), "IV");
        assert_eq!(roman(19), "XIX");
        assert_eq!(roman(94), "XCIV");
    }
}
