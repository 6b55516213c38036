//! Themes: colours assigned to slots named by what they mean (`selection`, `error`, `heading`), read
//! from TOML. The built-in themes in `themes/` are compiled in; a user theme in `<config>/themes/` may
//! name a built-in it `inherits` from and override only some slots. Colours are reduced to what the
//! terminal can show (truecolor → 256 → 16) and dropped entirely under `NO_COLOR`; meaning that matters
//! (focus, selection, errors) is also carried by modifiers, never by colour alone.

use std::path::Path;

use ratatui::style::{Color, Modifier, Style};

/// The themes compiled into weft: name and TOML source.
pub const BUILTIN: &[(&str, &str)] = &[
    ("dark", include_str!("../../themes/dark.toml")),
    ("light", include_str!("../../themes/light.toml")),
    (
        "high-contrast",
        include_str!("../../themes/high-contrast.toml"),
    ),
    ("ansi16", include_str!("../../themes/ansi16.toml")),
];

/// How many colours the terminal shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColorMode {
    /// 24-bit colour (`COLORTERM=truecolor` or `24bit`).
    TrueColor,
    /// The xterm 256-colour palette (`TERM` mentions 256).
    Ansi256,
    /// Only the 16 ANSI colours.
    Ansi16,
    /// `NO_COLOR` is set: modifiers only.
    NoColor,
}

impl ColorMode {
    /// From the environment: `NO_COLOR` (any non-empty value), `COLORTERM`, `TERM`.
    pub fn detect() -> Self {
        let var = |k: &str| std::env::var(k).ok();
        Self::from_vars(
            var("NO_COLOR").as_deref(),
            var("COLORTERM").as_deref(),
            var("TERM").as_deref(),
        )
    }

    /// The decision [`ColorMode::detect`] makes, from explicit values.
    pub fn from_vars(no_color: Option<&str>, colorterm: Option<&str>, term: Option<&str>) -> Self {
        if no_color.is_some_and(|v| !v.is_empty()) {
            return ColorMode::NoColor;
        }
        let colorterm = colorterm.unwrap_or_default().to_ascii_lowercase();
        if colorterm == "truecolor" || colorterm == "24bit" {
            return ColorMode::TrueColor;
        }
        match term.unwrap_or_default() {
            "dumb" => ColorMode::NoColor,
            t if t.contains("256") || t.contains("direct") => ColorMode::Ansi256,
            _ => ColorMode::Ansi16,
        }
    }

    /// `c` as this terminal can show it.
    pub fn adapt(self, c: Color) -> Color {
        match (self, c) {
            (ColorMode::NoColor, _) => Color::Reset,
            (_, Color::Reset) | (ColorMode::TrueColor, _) => c,
            (ColorMode::Ansi256, Color::Rgb(r, g, b)) => Color::Indexed(rgb_to_256(r, g, b)),
            (ColorMode::Ansi256, _) => c,
            (ColorMode::Ansi16, Color::Rgb(r, g, b)) => nearest_16(r, g, b),
            (ColorMode::Ansi16, Color::Indexed(n)) => {
                let (r, g, b) = indexed_rgb(n);
                nearest_16(r, g, b)
            }
            (ColorMode::Ansi16, _) => c,
        }
    }
}

/// Why a theme could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ThemeError {
    /// The file is not a usable theme; `why` says what is wrong.
    #[error("theme {name:?}: {why}")]
    Invalid {
        /// The theme's name.
        name: String,
        /// What is wrong with it.
        why: String,
    },
    /// Neither a built-in theme nor a file in the config dir has this name.
    #[error("no theme called {0:?} (built in: dark, light, high-contrast, ansi16)")]
    Unknown(String),
}

macro_rules! slots {
    ($($variant:ident => $field:ident),* $(,)?) => {
        /// What a colour is for. Every theme assigns one colour to each slot.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum Slot { $(#[doc = concat!("The `", stringify!($field), "` slot.")] $variant),* }

        impl Slot {
            /// Every slot, in the order theme files list them.
            pub const ALL: &'static [Slot] = &[$(Slot::$variant),*];
            /// The slot's key in a theme file.
            pub fn key(self) -> &'static str {
                match self { $(Slot::$variant => stringify!($field)),* }
            }
        }

        #[derive(Debug, Default, serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        struct ColorsFile { $(#[serde(default)] $field: Option<String>),* }

        impl ColorsFile {
            fn get(&self, s: Slot) -> Option<&str> {
                match s { $(Slot::$variant => self.$field.as_deref()),* }
            }
        }
    };
}

slots! {
    Text => text, Muted => muted, Background => background, Border => border,
    BorderFocus => border_focus, Title => title, Accent => accent,
    SelectionFg => selection_fg, SelectionBg => selection_bg, Caret => caret,
    StatusFg => status_fg, StatusBg => status_bg, ModeFg => mode_fg, ModeBg => mode_bg,
    Heading => heading, Code => code, Emphasis => emphasis, Link => link, Quote => quote,
    ListMarker => list_marker, Label => label, Assignee => assignee, Due => due,
    Comment => comment, Resolved => resolved, Error => error, Warning => warning, Info => info,
    PopupBg => popup_bg,
}

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct ThemeFile {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    #[allow(dead_code)]
    description: Option<String>,
    #[serde(default)]
    inherits: Option<String>,
    #[serde(default)]
    colors: ColorsFile,
}

/// A loaded theme, already reduced to the terminal's colour mode.
#[derive(Debug, Clone)]
pub struct Theme {
    name: String,
    mode: ColorMode,
    colors: Vec<Color>,
}

impl Theme {
    /// A built-in theme by name.
    pub fn builtin(name: &str, mode: ColorMode) -> Result<Self, ThemeError> {
        let (_, src) = BUILTIN
            .iter()
            .find(|(n, _)| *n == name)
            .ok_or_else(|| ThemeError::Unknown(name.to_string()))?;
        let file = parse_file(name, src)?;
        let mut colors = vec![Color::Reset; Slot::ALL.len()];
        for (i, slot) in Slot::ALL.iter().enumerate() {
            let v = file.colors.get(*slot).ok_or_else(|| ThemeError::Invalid {
                name: name.to_string(),
                why: format!("slot {} has no colour", slot.key()),
            })?;
            colors[i] = parse_color(name, *slot, v)?;
        }
        Ok(Theme {
            name: name.to_string(),
            mode,
            colors,
        })
    }

    /// The theme to use: `name` (a built-in, or `<config>/themes/NAME.toml`), else `dark` (or
    /// `ansi16` on a 16-colour terminal). A theme that cannot be used gives a message for the status
    /// bar and the default instead; this never fails.
    pub fn load(name: Option<&str>, config_dir: &Path, mode: ColorMode) -> (Self, Option<String>) {
        let fallback = || {
            let default = if mode == ColorMode::Ansi16 {
                "ansi16"
            } else {
                "dark"
            };
            Theme::builtin(default, mode).unwrap_or_else(|_| Theme::plain(mode))
        };
        let Some(name) = name.filter(|n| !n.trim().is_empty()) else {
            return (fallback(), None);
        };
        match Self::named(name.trim(), config_dir, mode) {
            Ok(t) => (t, None),
            Err(e) => (fallback(), Some(format!("using the default theme: {e}"))),
        }
    }

    fn named(name: &str, config_dir: &Path, mode: ColorMode) -> Result<Self, ThemeError> {
        let safe = !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        let path = config_dir.join("themes").join(format!("{name}.toml"));
        if safe && path.is_file() {
            let src = std::fs::read_to_string(&path).map_err(|e| ThemeError::Invalid {
                name: name.to_string(),
                why: format!("reading {}: {e}", path.display()),
            })?;
            return Self::from_user_toml(name, &src, mode);
        }
        Self::builtin(name, mode)
    }

    /// A user theme: slots it sets override those of the built-in it `inherits` (default `dark`).
    pub fn from_user_toml(name: &str, src: &str, mode: ColorMode) -> Result<Self, ThemeError> {
        let file = parse_file(name, src)?;
        let base = file.inherits.as_deref().unwrap_or("dark");
        let mut theme = Self::builtin(base, mode).map_err(|e| ThemeError::Invalid {
            name: name.to_string(),
            why: format!("inherits: {e}"),
        })?;
        for (i, slot) in Slot::ALL.iter().enumerate() {
            if let Some(v) = file.colors.get(*slot) {
                theme.colors[i] = parse_color(name, *slot, v)?;
            }
        }
        theme.name = file.name.unwrap_or_else(|| name.to_string());
        Ok(theme)
    }

    /// No colours at all (used only if a built-in theme were broken).
    fn plain(mode: ColorMode) -> Self {
        Theme {
            name: "plain".into(),
            mode,
            colors: vec![Color::Reset; Slot::ALL.len()],
        }
    }

    /// The theme's name (a built-in's, or the user file's `name`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The colour depth the theme was reduced to.
    pub fn mode(&self) -> ColorMode {
        self.mode
    }

    /// The colour of a slot as this terminal shows it.
    pub fn color(&self, slot: Slot) -> Color {
        let i = Slot::ALL.iter().position(|s| *s == slot).unwrap_or(0);
        self.mode
            .adapt(self.colors.get(i).copied().unwrap_or(Color::Reset))
    }

    /// Foreground in a slot's colour.
    pub fn fg(&self, slot: Slot) -> Style {
        Style::new().fg(self.color(slot))
    }

    /// Body text on the theme's background.
    pub fn base(&self) -> Style {
        Style::new()
            .fg(self.color(Slot::Text))
            .bg(self.color(Slot::Background))
    }

    /// A selected row: colours plus bold, and reversed when there are no colours.
    pub fn selection(&self) -> Style {
        let s = Style::new().add_modifier(Modifier::BOLD);
        if self.mode == ColorMode::NoColor {
            s.add_modifier(Modifier::REVERSED)
        } else {
            s.fg(self.color(Slot::SelectionFg))
                .bg(self.color(Slot::SelectionBg))
        }
    }

    /// A pane's border: focused panes are bold in the focus colour (and drawn thick by the caller).
    pub fn border(&self, focused: bool) -> Style {
        if focused {
            self.fg(Slot::BorderFocus).add_modifier(Modifier::BOLD)
        } else {
            self.fg(Slot::Border)
        }
    }

    /// Errors: colour plus bold.
    pub fn error(&self) -> Style {
        self.fg(Slot::Error).add_modifier(Modifier::BOLD)
    }

    /// The editor's caret: always reversed so it shows without colour.
    pub fn caret(&self) -> Style {
        Style::new()
            .fg(self.color(Slot::Caret))
            .add_modifier(Modifier::REVERSED)
    }
}

fn parse_file(name: &str, src: &str) -> Result<ThemeFile, ThemeError> {
    toml::from_str(src).map_err(|e| ThemeError::Invalid {
        name: name.to_string(),
        why: e.to_string().trim().replace('\n', " "),
    })
}

fn parse_color(name: &str, slot: Slot, v: &str) -> Result<Color, ThemeError> {
    v.parse::<Color>().map_err(|_| ThemeError::Invalid {
        name: name.to_string(),
        why: format!(
            "{} = {v:?} is not a colour (use \"#rrggbb\", 0-255, or a name like \"light-blue\")",
            slot.key()
        ),
    })
}

/// The xterm 256-colour index nearest to an RGB colour (6×6×6 cube or the grey ramp).
pub fn rgb_to_256(r: u8, g: u8, b: u8) -> u8 {
    const LEVELS: [u8; 6] = [0, 95, 135, 175, 215, 255];
    let q = |v: u8| -> usize {
        LEVELS
            .iter()
            .enumerate()
            .min_by_key(|(_, l)| (i32::from(**l) - i32::from(v)).abs())
            .map(|(i, _)| i)
            .unwrap_or(0)
    };
    let (qr, qg, qb) = (q(r), q(g), q(b));
    let cube = (16 + 36 * qr + 6 * qg + qb) as u8;
    let cube_rgb = (LEVELS[qr], LEVELS[qg], LEVELS[qb]);
    let avg = (u32::from(r) + u32::from(g) + u32::from(b)) / 3;
    let gi = (avg.saturating_sub(8) / 10).min(23) as u8;
    let gv = 8 + 10 * gi;
    let d = |(x, y, z): (u8, u8, u8)| {
        let f = |a: u8, b: u8| (i32::from(a) - i32::from(b)).pow(2);
        f(x, r) + f(y, g) + f(z, b)
    };
    if d((gv, gv, gv)) < d(cube_rgb) {
        232 + gi
    } else {
        cube
    }
}

const ANSI16: [(Color, (u8, u8, u8)); 16] = [
    (Color::Black, (0, 0, 0)),
    (Color::Red, (205, 0, 0)),
    (Color::Green, (0, 205, 0)),
    (Color::Yellow, (205, 205, 0)),
    (Color::Blue, (0, 0, 238)),
    (Color::Magenta, (205, 0, 205)),
    (Color::Cyan, (0, 205, 205)),
    (Color::Gray, (229, 229, 229)),
    (Color::DarkGray, (127, 127, 127)),
    (Color::LightRed, (255, 0, 0)),
    (Color::LightGreen, (0, 255, 0)),
    (Color::LightYellow, (255, 255, 0)),
    (Color::LightBlue, (92, 92, 255)),
    (Color::LightMagenta, (255, 0, 255)),
    (Color::LightCyan, (0, 255, 255)),
    (Color::White, (255, 255, 255)),
];

/// The nearest of the 16 ANSI colours.
pub fn nearest_16(r: u8, g: u8, b: u8) -> Color {
    let f = |a: u8, b: u8| (i32::from(a) - i32::from(b)).pow(2);
    ANSI16
        .iter()
        .min_by_key(|(_, (x, y, z))| f(*x, r) + f(*y, g) + f(*z, b))
        .map(|(c, _)| *c)
        .unwrap_or(Color::Reset)
}

fn indexed_rgb(n: u8) -> (u8, u8, u8) {
    match n {
        0..=15 => ANSI16[n as usize].1,
        16..=231 => {
            const LEVELS: [u8; 6] = [0, 95, 135, 175, 215, 255];
            let i = n - 16;
            (
                LEVELS[(i / 36) as usize],
                LEVELS[((i / 6) % 6) as usize],
                LEVELS[(i % 6) as usize],
            )
        }
        _ => {
            let v = 8 + 10 * (n - 232);
            (v, v, v)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_builtin_theme_sets_every_slot() {
        for (name, _) in BUILTIN {
            Theme::builtin(name, ColorMode::TrueColor).expect(name);
        }
    }

    #[test]
    fn ansi16_theme_uses_only_the_16_colours() {
        let t = Theme::builtin("ansi16", ColorMode::TrueColor).expect("ansi16");
        for slot in Slot::ALL {
            assert!(
                !matches!(t.color(*slot), Color::Rgb(..) | Color::Indexed(_)),
                "{slot:?}"
            );
        }
    }

    #[test]
    fn capability_detection() {
        use ColorMode::*;
        assert_eq!(
            ColorMode::from_vars(Some("1"), Some("truecolor"), None),
            NoColor
        );
        assert_eq!(
            ColorMode::from_vars(Some(""), Some("truecolor"), None),
            TrueColor
        );
        assert_eq!(
            ColorMode::from_vars(None, None, Some("xterm-256color")),
            Ansi256
        );
        assert_eq!(ColorMode::from_vars(None, None, Some("screen")), Ansi16);
        assert_eq!(ColorMode::from_vars(None, None, Some("dumb")), NoColor);
    }

    #[test]
    fn colours_fall_back_by_capability() {
        let c = Color::Rgb(255, 0, 0);
        assert_eq!(ColorMode::TrueColor.adapt(c), c);
        assert_eq!(ColorMode::Ansi256.adapt(c), Color::Indexed(196));
        assert_eq!(ColorMode::Ansi16.adapt(c), Color::LightRed);
        assert_eq!(ColorMode::NoColor.adapt(c), Color::Reset);
        assert_eq!(rgb_to_256(128, 128, 128), 244);
        assert_eq!(ColorMode::Ansi16.adapt(Color::Indexed(21)), Color::Blue);
    }

    #[test]
    fn no_color_keeps_selection_visible() {
        let t = Theme::builtin("dark", ColorMode::NoColor).expect("dark");
        let s = t.selection();
        assert!(s.add_modifier.contains(Modifier::REVERSED));
        assert_eq!(s.bg, None);
        assert_eq!(t.fg(Slot::Error).fg, Some(Color::Reset));
    }

    #[test]
    fn user_theme_inherits_and_reports_errors() {
        let t = Theme::from_user_toml(
            "mine",
            "inherits = \"light\"\n[colors]\nerror = \"#ff00ff\"\n",
            ColorMode::TrueColor,
        )
        .expect("valid");
        assert_eq!(t.color(Slot::Error), Color::Rgb(255, 0, 255));
        let light = Theme::builtin("light", ColorMode::TrueColor).expect("light");
        assert_eq!(t.color(Slot::Text), light.color(Slot::Text));
        let bad =
            Theme::from_user_toml("mine", "[colors]\nerorr = \"red\"\n", ColorMode::TrueColor)
                .expect_err("typo");
        assert!(bad.to_string().contains("erorr"), "{bad}");
        let bad = Theme::from_user_toml(
            "mine",
            "[colors]\nerror = \"reddish\"\n",
            ColorMode::TrueColor,
        )
        .expect_err("bad colour");
        assert!(bad.to_string().contains("not a colour"), "{bad}");
    }

    #[test]
    fn unknown_theme_falls_back_with_a_message() {
        let dir = std::env::temp_dir();
        let (t, msg) = Theme::load(Some("nope"), &dir, ColorMode::TrueColor);
        assert_eq!(t.name(), "dark");
        assert!(msg.unwrap_or_default().contains("no theme called \"nope\""));
    }
}
