//! The HTML page's five charts, drawn as SVG text by `plotters`: the decision by day, the agreement heat map, attribute bars, reason-code bars, latency over time.
//!
//! Each chart is a string of `<svg>` to inline in the page: no script, no
//! font or image to fetch. Text goes through plotters' SVG escaping, which
//! matters because reason codes are a vendor's words. Every chart also has
//! its numbers in a table beside it, so none of them is the only record.

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::ReportError;
use super::schema::{COLUMNS, Count, ROWS, Report};
use super::tables::percent;

const WIDTH: u32 = 900;
const LEXISNEXIS: RGBColor = RGBColor(31, 119, 180);
const SOCURE: RGBColor = RGBColor(230, 115, 0);
const BOTH: RGBColor = RGBColor(60, 150, 60);
const INK: RGBColor = RGBColor(34, 34, 34);
const FONT: &str = "sans-serif";

type Area<'a> = DrawingArea<SVGBackend<'a>, Shift>;

/// Draws on a fresh SVG of `height`, returns its text.
fn svg(
    chart: &'static str,
    height: u32,
    draw: impl FnOnce(&Area<'_>) -> Result<(), String>,
) -> Result<String, ReportError> {
    let mut out = String::new();
    {
        let area = SVGBackend::with_string(&mut out, (WIDTH, height)).into_drawing_area();
        let fail = |message: String| ReportError::Chart { chart, message };
        area.fill(&WHITE).map_err(|e| fail(e.to_string()))?;
        draw(&area).map_err(fail)?;
        area.present().map_err(|e| fail(e.to_string()))?;
    }
    Ok(out)
}

/// `size` in CSS pixels; plotters writes `font-size` as its size over 1.24.
fn text(area: &Area<'_>, words: &str, at: (i32, i32), size: u32, h: HPos) -> Result<(), String> {
    let style = TextStyle::from((FONT, f64::from(size) * 1.24).into_font())
        .color(&INK)
        .pos(Pos::new(h, VPos::Center));
    area.draw(&Text::new(words.to_owned(), at, style))
        .map_err(|e| e.to_string())
}

fn bar(area: &Area<'_>, from: (i32, i32), to: (i32, i32), color: &RGBColor) -> Result<(), String> {
    area.draw(&Rectangle::new([from, to], color.filled()))
        .map_err(|e| e.to_string())
}

// Text is anchored at its vertical centre; these say where horizontally.
const LEFT: HPos = HPos::Left;
const RIGHT: HPos = HPos::Right;
const CENTER: HPos = HPos::Center;

/// LexisNexis rows by Socure columns, each cell shaded by its share of all lines.
pub fn agreement(report: &Report) -> Result<String, ReportError> {
    let (left, top, cell_w, cell_h) = (170, 66, 140, 56);
    svg("agreement", top as u32 + 3 * cell_h as u32 + 20, |area| {
        text(area, "Socure", (left + 5 * cell_w / 2, 16), 16, CENTER)?;
        for (c, column) in COLUMNS.iter().enumerate() {
            let x = left + c as i32 * cell_w + cell_w / 2;
            text(area, column, (x, top - 16), 14, CENTER)?;
        }
        text(area, "LexisNexis", (8, top - 16), 16, LEFT)?;
        for (r, row) in ROWS.iter().enumerate() {
            let y = top + r as i32 * cell_h;
            text(area, row, (left - 12, y + cell_h / 2), 14, RIGHT)?;
            for c in 0..COLUMNS.len() {
                let x = left + c as i32 * cell_w;
                let share = report.agreement.shares[r][c].unwrap_or(0.0);
                // A square root spreads small shares: a 2% cell must still show.
                let weight = share.sqrt();
                let judged = r < 2 && c < 2;
                let base = if judged && r == c { BOTH } else { SOCURE };
                let color = mix(base, weight);
                bar(
                    area,
                    (x + 1, y + 1),
                    (x + cell_w - 1, y + cell_h - 1),
                    &color,
                )?;
                let words = format!(
                    "{} ({})",
                    report.agreement.counts[r][c],
                    percent(report.agreement.shares[r][c])
                );
                text(area, &words, (x + cell_w / 2, y + cell_h / 2), 14, CENTER)?;
            }
        }
        Ok(())
    })
}

/// White to `color` by `weight` in [0, 1].
fn mix(color: RGBColor, weight: f64) -> RGBColor {
    let w = weight.clamp(0.0, 1.0) * 0.85;
    let channel = |c: u8| (255.0 - (255.0 - f64::from(c)) * w).round() as u8;
    RGBColor(channel(color.0), channel(color.1), channel(color.2))
}

/// Per attribute: LexisNexis asked to verify, Socure left unverified, both.
pub fn attributes(report: &Report) -> Result<String, ReportError> {
    let rows = &report.attributes.rows;
    let (left, top, group_h, bar_h, bar_w) = (120, 40, 66, 16, 600.0);
    let height = top as u32 + rows.len() as u32 * group_h as u32 + 10;
    svg("attributes", height, |area| {
        let series = [
            ("LexisNexis asked to verify", LEXISNEXIS),
            ("Socure left unverified", SOCURE),
            ("both", BOTH),
        ];
        for (i, (name, color)) in series.iter().enumerate() {
            let x = left + i as i32 * 230;
            bar(area, (x, 10), (x + 14, 24), color)?;
            text(area, name, (x + 20, 17), 13, LEFT)?;
        }
        for (g, row) in rows.iter().enumerate() {
            let y = top + g as i32 * group_h;
            text(
                area,
                row.attribute,
                (left - 10, y + group_h / 2 - 4),
                14,
                RIGHT,
            )?;
            let shares = [
                row.lexisnexis_flagged_share,
                row.socure_unverified_share,
                row.both_share,
            ];
            for (i, (share, (_, color))) in shares.iter().zip(&series).enumerate() {
                let y0 = y + i as i32 * (bar_h + 2);
                let length = (share.unwrap_or(0.0) * bar_w).round() as i32;
                bar(area, (left, y0), (left + length.max(1), y0 + bar_h), color)?;
                text(
                    area,
                    &percent(*share),
                    (left + length + 6, y0 + bar_h / 2),
                    12,
                    LEFT,
                )?;
            }
        }
        Ok(())
    })
}

/// The most frequent reason codes, by share of the lines Socure judged.
pub fn reason_codes(codes: &[Count]) -> Result<String, ReportError> {
    let (left, top, row_h, bar_w) = (110, 10, 26, 640.0);
    let height = top as u32 + codes.len().max(1) as u32 * row_h as u32 + 10;
    svg("reason codes", height, |area| {
        if codes.is_empty() {
            return text(area, "no reason codes", (left, top + row_h / 2), 14, LEFT);
        }
        for (i, code) in codes.iter().enumerate() {
            let y = top + i as i32 * row_h;
            text(area, &code.name, (left - 10, y + row_h / 2), 14, RIGHT)?;
            let length = (code.share.unwrap_or(0.0) * bar_w).round() as i32;
            bar(
                area,
                (left, y + 4),
                (left + length.max(1), y + row_h - 4),
                &SOCURE,
            )?;
            let words = format!("{} ({})", code.count, percent(code.share));
            text(area, &words, (left + length + 6, y + row_h / 2), 12, LEFT)?;
        }
        Ok(())
    })
}

/// p50 and p95 of each vendor per bucket of the series.
pub fn latency(report: &Report) -> Result<String, ReportError> {
    let by_day = report.series.bucket == "day";
    let bucket = if by_day { 86_400.0 } else { 3_600.0 };
    // Each point at its bucket's middle, on an axis from the first bucket's
    // start to the last one's end: one bucket is then a point in a span.
    let points: Vec<(f64, [Option<u64>; 4])> = report
        .series
        .points
        .iter()
        .filter_map(|p| {
            let start = OffsetDateTime::parse(&p.start, &Rfc3339).ok()?;
            let l = &p.lexisnexis.latency_ms;
            let s = &p.socure.latency_ms;
            let middle = start.unix_timestamp() as f64 + bucket / 2.0;
            Some((middle, [l.p50, l.p95, s.p50, s.p95]))
        })
        .collect();
    let first = points.first().map_or(0.0, |p| p.0) - bucket / 2.0;
    let last = points.last().map_or(0.0, |p| p.0) + bucket / 2.0;
    let labels = (points.len() + 1).min(8);
    let highest = points
        .iter()
        .flat_map(|(_, values)| values.iter().flatten())
        .copied()
        .max()
        .unwrap_or(1)
        .max(1) as f64;
    svg("latency", 380, |area| {
        let mut chart = ChartBuilder::on(area)
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(60)
            .build_cartesian_2d(first..last, 0.0..highest * 1.1)
            .map_err(|e| e.to_string())?;
        chart
            .configure_mesh()
            .x_labels(labels)
            .y_desc("ms")
            .x_label_formatter(&|x| axis_time(*x, by_day))
            .label_style((FONT, 15))
            .draw()
            .map_err(|e| e.to_string())?;
        let lines = [
            ("LexisNexis p50", 0, LEXISNEXIS, 1),
            ("LexisNexis p95", 1, LEXISNEXIS, 3),
            ("Socure p50", 2, SOCURE, 1),
            ("Socure p95", 3, SOCURE, 3),
        ];
        for (name, index, color, width) in lines {
            let series: Vec<(f64, f64)> = points
                .iter()
                .filter_map(|(x, values)| values[index].map(|v| (*x, v as f64)))
                .collect();
            // Dots as well as lines: a series of one bucket is still seen.
            chart
                .draw_series(
                    series
                        .iter()
                        .map(|&point| Circle::new(point, width + 1, color.filled())),
                )
                .map_err(|e| e.to_string())?;
            chart
                .draw_series(LineSeries::new(series, color.stroke_width(width)))
                .map_err(|e| e.to_string())?
                .label(name)
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(width))
                });
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .label_font((FONT, 15))
            .background_style(WHITE.mix(0.85))
            .border_style(INK)
            .draw()
            .map_err(|e| e.to_string())
    })
}

/// Agreement and the newly rejected share per UTC day, in percent.
pub fn decision_by_day(report: &Report) -> Result<String, ReportError> {
    const DAY: f64 = 86_400.0;
    let points: Vec<(f64, [Option<f64>; 2])> = report
        .decision
        .by_day
        .iter()
        .filter_map(|day| {
            let start = OffsetDateTime::parse(&day.start, &Rfc3339).ok()?;
            let percent = |share: Option<f64>| share.map(|s| s * 100.0);
            Some((
                start.unix_timestamp() as f64 + DAY / 2.0,
                [percent(day.agreement), percent(day.newly_rejected_share)],
            ))
        })
        .collect();
    let first = points.first().map_or(0.0, |p| p.0) - DAY / 2.0;
    let last = points.last().map_or(0.0, |p| p.0) + DAY / 2.0;
    let labels = (points.len() + 1).min(8);
    svg("decision by day", 340, |area| {
        let mut chart = ChartBuilder::on(area)
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(60)
            .build_cartesian_2d(first..last, 0.0..100.0)
            .map_err(|e| e.to_string())?;
        chart
            .configure_mesh()
            .x_labels(labels)
            .y_desc("% of the applicants")
            .x_label_formatter(&|x| axis_time(*x, true))
            .label_style((FONT, 15))
            .draw()
            .map_err(|e| e.to_string())?;
        let lines = [
            ("agreement (of both judged)", 0, BOTH),
            ("newly rejected (of LexisNexis passes)", 1, SOCURE),
        ];
        for (name, index, color) in lines {
            let series: Vec<(f64, f64)> = points
                .iter()
                .filter_map(|(x, values)| values[index].map(|v| (*x, v)))
                .collect();
            chart
                .draw_series(
                    series
                        .iter()
                        .map(|&point| Circle::new(point, 3, color.filled())),
                )
                .map_err(|e| e.to_string())?;
            chart
                .draw_series(LineSeries::new(series, color.stroke_width(2)))
                .map_err(|e| e.to_string())?
                .label(name)
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
                });
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::MiddleRight)
            .label_font((FONT, 15))
            .background_style(WHITE.mix(0.85))
            .border_style(INK)
            .draw()
            .map_err(|e| e.to_string())
    })
}

/// An axis label: `11-02 14:30` by the hour, `2026-11-02` by the day.
fn axis_time(unix: f64, by_day: bool) -> String {
    let Ok(at) = OffsetDateTime::from_unix_timestamp(unix as i64) else {
        return String::new();
    };
    if by_day {
        format!("{}-{:02}-{:02}", at.year(), u8::from(at.month()), at.day())
    } else {
        format!(
            "{:02}-{:02} {:02}:{:02}",
            u8::from(at.month()),
            at.day(),
            at.hour(),
            at.minute()
        )
    }
}
