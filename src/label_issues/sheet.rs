//! The contact sheet of the top suspects: one PNG (a grid of enlarged images, each with its
//! index, given and suggested class and score) and one self-contained HTML page (images
//! inlined as PNG data, so it opens offline from anywhere).

use crate::reproduce::plots::register_font;
use anyhow::{Context, anyhow};
use base64::Engine;
use plotters::prelude::*;
use std::path::Path;

/// Columns of the PNG grid.
const COLUMNS: usize = 8;
/// Height of the caption under each image, in pixels.
const CAPTION: usize = 46;
/// Smallest tile width (captions need room even for small images).
const MIN_TILE: usize = 120;

/// One suspect on the sheet.
#[derive(Debug, Clone)]
pub struct Suspect<'a> {
    /// Rank by score (1 = most suspicious).
    pub rank: u32,
    /// Index in the training split.
    pub index: u32,
    /// Class name of the given label.
    pub given: &'a str,
    /// Class name of the suggested label.
    pub suggested: &'a str,
    /// The label-issue score.
    pub score: f64,
    /// Whether the given label really is wrong, when the clean labels are known.
    pub wrong: Option<bool>,
    /// The image, C×H×W bytes.
    pub pixels: &'a [u8],
}

/// Image geometry of the dataset.
#[derive(Debug, Clone, Copy)]
pub struct Geometry {
    /// Channels (1 or 3).
    pub channels: usize,
    /// Height in pixels.
    pub height: usize,
    /// Width in pixels.
    pub width: usize,
}

impl Geometry {
    /// Interleaved RGB bytes of a C×H×W image (grey images repeated into three channels).
    fn rgb(&self, chw: &[u8]) -> Vec<u8> {
        let plane = self.height * self.width;
        (0..plane)
            .flat_map(|p| {
                (0..3).map(move |c| {
                    if self.channels == 1 { chw[p] } else { chw[c.min(self.channels - 1) * plane + p] }
                })
            })
            .collect()
    }

    /// Integer enlargement so images are about 96 pixels tall.
    fn scale(&self) -> usize {
        (96 / self.height.max(1)).max(1)
    }
}

/// Encodes interleaved RGB bytes as a PNG.
fn encode_png(rgb: &[u8], width: usize, height: usize) -> anyhow::Result<Vec<u8>> {
    let mut out = Vec::new();
    {
        let mut enc = png::Encoder::new(&mut out, width as u32, height as u32);
        enc.set_color(png::ColorType::Rgb);
        enc.set_depth(png::BitDepth::Eight);
        let mut w = enc.write_header()?;
        w.write_image_data(rgb)?;
    }
    Ok(out)
}

/// Writes the grid of `suspects` as a PNG at `path`.
pub fn write_png(path: &Path, suspects: &[Suspect], geo: Geometry) -> anyhow::Result<()> {
    register_font();
    let s = geo.scale();
    let (img_w, img_h) = (geo.width * s, geo.height * s);
    let tile_w = img_w.max(MIN_TILE) + 8;
    let tile_h = img_h + CAPTION + 8;
    let rows = suspects.len().div_ceil(COLUMNS).max(1);
    let (w, h) = (tile_w * COLUMNS.min(suspects.len().max(1)), tile_h * rows);
    let mut buf = vec![255u8; w * h * 3];
    for (t, sus) in suspects.iter().enumerate() {
        let (x0, y0) = ((t % COLUMNS) * tile_w + (tile_w - img_w) / 2, (t / COLUMNS) * tile_h + 4);
        let rgb = geo.rgb(sus.pixels);
        for y in 0..img_h {
            for x in 0..img_w {
                let src = ((y / s) * geo.width + x / s) * 3;
                let dst = ((y0 + y) * w + x0 + x) * 3;
                buf[dst..dst + 3].copy_from_slice(&rgb[src..src + 3]);
            }
        }
    }
    {
        let root = BitMapBackend::with_buffer(&mut buf, (w as u32, h as u32)).into_drawing_area();
        let err = |e| anyhow!("drawing the contact sheet: {e:?}");
        for (t, sus) in suspects.iter().enumerate() {
            let x = ((t % COLUMNS) * tile_w + 4) as i32;
            let y = ((t / COLUMNS) * tile_h + 6 + img_h) as i32;
            let colour = match sus.wrong {
                Some(true) => RGBColor(0, 110, 0),
                Some(false) => RGBColor(170, 0, 0),
                None => BLACK,
            };
            let style = ("sans-serif", 12).into_font().color(&BLACK);
            root.draw_text(&format!("#{} (idx {})", sus.rank, sus.index), &style, (x, y)).map_err(err)?;
            root.draw_text(&format!("given: {}", sus.given), &style, (x, y + 14)).map_err(err)?;
            let suggested = ("sans-serif", 12).into_font().color(&colour);
            root.draw_text(&format!("→ {}  {:.2}", sus.suggested, sus.score), &suggested, (x, y + 28))
                .map_err(err)?;
        }
        root.present().map_err(err)?;
    }
    let bytes = encode_png(&buf, w, h)?;
    std::fs::write(path, bytes).with_context(|| format!("writing {}", path.display()))
}

/// Escapes text for HTML.
fn escape(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            '&' => "&amp;".to_string(),
            '<' => "&lt;".to_string(),
            '>' => "&gt;".to_string(),
            '"' => "&quot;".to_string(),
            '\'' => "&#39;".to_string(),
            c => c.to_string(),
        })
        .collect()
}

/// Writes a self-contained HTML page of `suspects` at `path`; `title` and `summary` head it.
pub fn write_html(
    path: &Path,
    suspects: &[Suspect],
    geo: Geometry,
    title: &str,
    summary: &[String],
) -> anyhow::Result<()> {
    let s = geo.scale();
    let mut html = format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{t}</title><style>\
body{{font-family:sans-serif;margin:1.5em}}\
.grid{{display:flex;flex-wrap:wrap;gap:12px}}\
figure{{margin:0;width:{fw}px;font-size:13px}}\
img{{image-rendering:pixelated;width:{iw}px;height:{ih}px}}\
.wrong{{color:#060}} .right{{color:#a00}}\
</style></head><body>\n<h1>{t}</h1>\n",
        t = escape(title),
        fw = (geo.width * s).max(MIN_TILE),
        iw = geo.width * s,
        ih = geo.height * s,
    );
    for line in summary {
        html.push_str(&format!("<p>{}</p>\n", escape(line)));
    }
    html.push_str("<div class=\"grid\">\n");
    for sus in suspects {
        let png = encode_png(&geo.rgb(sus.pixels), geo.width, geo.height)?;
        let data = base64::engine::general_purpose::STANDARD.encode(png);
        let class = match sus.wrong {
            Some(true) => " class=\"wrong\" title=\"the given label is wrong\"",
            Some(false) => " class=\"right\" title=\"the given label is right\"",
            None => "",
        };
        html.push_str(&format!(
            "<figure><img alt=\"training image {idx}\" src=\"data:image/png;base64,{data}\">\
<figcaption>#{rank} · index {idx}<br>given: <b>{given}</b><br><span{class}>suggested: <b>{sug}</b></span> · score {score:.3}</figcaption></figure>\n",
            idx = sus.index,
            rank = sus.rank,
            given = escape(sus.given),
            sug = escape(sus.suggested),
            score = sus.score,
        ));
    }
    html.push_str("</div>\n</body></html>\n");
    std::fs::write(path, html).with_context(|| format!("writing {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grey_and_colour_images_become_interleaved_rgb() {
        let grey = Geometry { channels: 1, height: 1, width: 2 };
        assert_eq!(grey.rgb(&[10, 20]), vec![10, 10, 10, 20, 20, 20]);
        let colour = Geometry { channels: 3, height: 1, width: 2 };
        assert_eq!(colour.rgb(&[1, 2, 3, 4, 5, 6]), vec![1, 3, 5, 2, 4, 6]);
    }

    #[test]
    fn html_escapes_class_names() {
        assert_eq!(escape("<cat & \"dog\">"), "&lt;cat &amp; &quot;dog&quot;&gt;");
    }
}
