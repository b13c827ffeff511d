//! Every style the client draws with, in one place. The default theme is
//! `assets/theme.toml`, compiled in, with `assets/theme-light.toml` beside
//! it for light terminals; `theme = "path"` in the config replaces it.

use std::{collections::BTreeMap, str::FromStr};

use ratatui::{
    style::{Color, Modifier, Style},
    text::Span,
    widgets::{Block, Borders},
};
use serde::Deserialize;

const DEFAULT_THEME: &str = include_str!("../../assets/theme.toml");
const LIGHT_THEME: &str = include_str!("../../assets/theme-light.toml");

#[derive(Debug, Clone, PartialEq)]
pub struct Theme {
    pub status_bar: Style,
    pub status_ok: Style,
    pub status_warn: Style,
    pub status_bad: Style,
    pub time: Style,
    pub text: Style,
    pub own_name: Style,
    pub own_text: Style,
    pub mention: Style,
    pub system: Style,
    pub info: Style,
    pub error: Style,
    pub divider: Style,
    pub new_below: Style,
    pub border: Style,
    pub border_focused: Style,
    pub title: Style,
    pub title_alert: Style,
    pub selected: Style,
    pub online: Style,
    pub offline: Style,
    pub admin: Style,
    pub footer_key: Style,
    pub footer_label: Style,
    pub hint: Style,
    pub field: Style,
    pub field_focused: Style,
    pub valid: Style,
    pub invalid: Style,
    /// File names and announcements.
    pub file: Style,
    /// A file saved here.
    pub file_done: Style,
    /// The filled part of a transfer's bar.
    pub progress: Style,
    pub names: Vec<Color>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ThemeFile {
    styles: BTreeMap<String, String>,
    names: Names,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Names {
    palette: Vec<String>,
}

impl Default for Theme {
    fn default() -> Self {
        Theme::parse(DEFAULT_THEME).expect("the built-in theme is valid")
    }
}

impl Theme {
    /// The bordered block every pane is drawn in; the border shows focus.
    pub fn pane<'a>(
        &self,
        title: impl Into<String>,
        title_style: Style,
        focused: bool,
    ) -> Block<'a> {
        Block::new()
            .borders(Borders::ALL)
            .border_style(if focused {
                self.border_focused
            } else {
                self.border
            })
            .title(Span::styled(title.into(), title_style))
    }

    /// The theme the config names: `light` for the shipped light theme,
    /// else a theme file's path.
    pub fn load(path: &std::path::Path) -> Result<Theme, String> {
        if path.as_os_str() == "light" {
            return Theme::parse(LIGHT_THEME);
        }
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read the theme {}: {e}", path.display()))?;
        Theme::parse(&text).map_err(|e| format!("{}: {e}", path.display()))
    }

    pub fn parse(text: &str) -> Result<Theme, String> {
        let file: ThemeFile = toml::from_str(text).map_err(|e| e.to_string())?;
        let mut styles = file.styles;
        let mut take = |key: &str| -> Result<Style, String> {
            let value = styles
                .remove(key)
                .ok_or_else(|| format!("theme: `{key}` is missing"))?;
            parse_style(&value).map_err(|e| format!("theme: {key}: {e}"))
        };
        let theme = Theme {
            status_bar: take("status_bar")?,
            status_ok: take("status_ok")?,
            status_warn: take("status_warn")?,
            status_bad: take("status_bad")?,
            time: take("time")?,
            text: take("text")?,
            own_name: take("own_name")?,
            own_text: take("own_text")?,
            mention: take("mention")?,
            system: take("system")?,
            info: take("info")?,
            error: take("error")?,
            divider: take("divider")?,
            new_below: take("new_below")?,
            border: take("border")?,
            border_focused: take("border_focused")?,
            title: take("title")?,
            title_alert: take("title_alert")?,
            selected: take("selected")?,
            online: take("online")?,
            offline: take("offline")?,
            admin: take("admin")?,
            footer_key: take("footer_key")?,
            footer_label: take("footer_label")?,
            hint: take("hint")?,
            field: take("field")?,
            field_focused: take("field_focused")?,
            valid: take("valid")?,
            invalid: take("invalid")?,
            file: take("file")?,
            file_done: take("file_done")?,
            progress: take("progress")?,
            names: file
                .names
                .palette
                .iter()
                .map(|c| Color::from_str(c).map_err(|_| format!("theme: unknown colour {c:?}")))
                .collect::<Result<_, _>>()?,
        };
        if let Some(key) = styles.keys().next() {
            return Err(format!("theme: unknown style `{key}`"));
        }
        if theme.names.is_empty() {
            return Err("theme: names.palette is empty".into());
        }
        Ok(theme)
    }

    /// The colour of a sender's name: the same name always gets the same one.
    pub fn name_style(&self, name: &str) -> Style {
        // FNV-1a: stable across runs and platforms, unlike std's hasher.
        let hash = name.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
        });
        let color = self.names[(hash % self.names.len() as u64) as usize];
        Style::new().fg(color).add_modifier(Modifier::BOLD)
    }
}

/// `"lightcyan on #303446 bold"` → a style.
fn parse_style(text: &str) -> Result<Style, String> {
    let mut style = Style::new();
    let mut words = text.split_whitespace();
    while let Some(word) = words.next() {
        let modifier = match word {
            "bold" => Some(Modifier::BOLD),
            "dim" => Some(Modifier::DIM),
            "italic" => Some(Modifier::ITALIC),
            "underlined" => Some(Modifier::UNDERLINED),
            "reversed" => Some(Modifier::REVERSED),
            _ => None,
        };
        if let Some(modifier) = modifier {
            style = style.add_modifier(modifier);
        } else if word == "on" {
            let color = words.next().ok_or("`on` needs a colour")?;
            style =
                style.bg(Color::from_str(color).map_err(|_| format!("unknown colour {color:?}"))?);
        } else {
            style = style.fg(Color::from_str(word)
                .map_err(|_| format!("unknown colour or modifier {word:?}"))?);
        }
    }
    Ok(style)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_theme_parses_and_names_keep_their_colour() {
        let theme = Theme::default();
        assert_eq!(theme.name_style("alice"), theme.name_style("alice"));
        assert_eq!(
            parse_style("lightcyan on #303446 bold").unwrap(),
            Style::new()
                .fg(Color::LightCyan)
                .bg(Color::Rgb(0x30, 0x34, 0x46))
                .add_modifier(Modifier::BOLD)
        );
        assert!(parse_style("blurple").is_err());
        assert!(Theme::parse(&DEFAULT_THEME.replace("time = ", "tyme = ")).is_err());
    }

    #[test]
    fn the_light_theme_ships_and_a_theme_file_replaces_the_default() {
        let light = Theme::load(std::path::Path::new("light")).unwrap();
        assert_ne!(light, Theme::default());
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("mine.toml");
        std::fs::write(&path, DEFAULT_THEME.replace("bold", "italic")).unwrap();
        assert_ne!(Theme::load(&path).unwrap(), Theme::default());
        let err = Theme::load(&dir.path().join("missing.toml")).unwrap_err();
        assert!(err.contains("cannot read the theme"), "{err}");
    }
}
