/**
 * A time chart (uPlot, canvas) inside a <figure>: colours come from the page's CSS variables so light and dark
 * mode both read well, it redraws when the colour scheme or its width changes, and a data table under it gives
 * the same figures to keyboard and screen-reader users.
 */
import { useEffect, useRef, useState } from "preact/hooks";
import uPlot from "uplot";
import { fmtTime } from "../format";

export interface Series {
  label: string;
  /** null: no figure in that bucket (a gap, not a zero). */
  values: (number | null)[];
  /** What the legend shows while the pointer is off the chart; default: the range's total. */
  summary?: string;
  /** A CSS variable holding the colour, e.g. `--chart-1`. */
  color: string;
  bars?: boolean;
}

const css = (name: string) => getComputedStyle(document.documentElement).getPropertyValue(name).trim();

function useColorScheme(): string {
  const [scheme, setScheme] = useState(() => (matchMedia("(prefers-color-scheme: dark)").matches ? "dark" : "light"));
  useEffect(() => {
    const mq = matchMedia("(prefers-color-scheme: dark)");
    const on = () => setScheme(mq.matches ? "dark" : "light");
    mq.addEventListener("change", on);
    return () => mq.removeEventListener("change", on);
  }, []);
  return scheme;
}

const bucketLabel = (t: number, bucket: "hour" | "day") => (bucket === "day" ? new Date(t).toISOString().slice(0, 10) : fmtTime(t, false));

const pad = (n: number) => String(n).padStart(2, "0");

/** UTC tick labels: `13:00` (with the date on the first tick and at midnight), or `05-04` for days. */
function timeTick(t: number, first: boolean, bucket: "hour" | "day"): string {
  const d = new Date(t);
  const date = `${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())}`;
  if (bucket === "day" || (d.getUTCHours() === 0 && d.getUTCMinutes() === 0)) return date;
  const time = `${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}`;
  return first ? `${time}\n${date}` : time;
}

export function TimeChart(props: {
  title: string;
  /** Bucket starts, ms since the epoch (UTC). */
  times: number[];
  series: Series[];
  format: (n: number) => string;
  bucket: "hour" | "day";
}) {
  const box = useRef<HTMLDivElement>(null);
  const scheme = useColorScheme();
  const { times, series, format, bucket } = props;

  useEffect(() => {
    const el = box.current!;
    const axis = { stroke: css("--muted"), grid: { stroke: css("--grid"), width: 1 }, ticks: { stroke: css("--grid"), width: 1 } };
    const half = (bucket === "hour" ? 3600 : 86_400) / 2;
    const bars = uPlot.paths.bars!({ size: [0.7, 48], gap: 1 });
    const opts: uPlot.Options = {
      width: Math.max(el.clientWidth, 240),
      height: 220,
      // Buckets are UTC hours and days, like budget periods: the axis speaks UTC too.
      tzDate: (ts) => uPlot.tzDate(new Date(ts * 1e3), "Etc/UTC"),
      cursor: { drag: { x: false, y: false } },
      legend: { live: true },
      // Half a bucket of room at each end, so the first and last bars are drawn whole.
      scales: { x: { time: true, range: (_u, min, max) => [min - half, max + half] }, y: { range: (_u, _min, max) => [0, max > 0 ? max * 1.1 : 1] } },
      axes: [{ ...axis, values: (_u, ticks) => ticks.map((t, i) => timeTick(t * 1e3, i === 0, bucket)) }, { ...axis, size: 64, values: (_u, ticks) => ticks.map(format) }],
      // Off the chart the legend shows the whole range (totals, or each series' summary), not placeholder dashes.
      series: [
        { label: `${bucket} (UTC)`, value: (_u, v) => (v == null ? "whole range" : bucketLabel(v * 1e3, bucket)) },
        ...series.map((s) => {
          const color = css(s.color);
          return {
            label: s.label,
            stroke: color,
            width: s.bars ? 0 : 2,
            fill: s.bars ? color : undefined,
            paths: s.bars ? bars : undefined,
            points: { show: !s.bars && times.length < 60, size: 5, fill: color },
            value: (_u: uPlot, v: number | null, _s: number, idx: number | null) => (idx == null ? summaryOf(s, format) : v == null ? "none" : format(v)),
          };
        }),
      ],
    };
    const chart = new uPlot(opts, [times.map((t) => t / 1e3), ...series.map((s) => s.values)] as uPlot.AlignedData, el);
    const ro = new ResizeObserver(() => chart.setSize({ width: Math.max(el.clientWidth, 240), height: 220 }));
    ro.observe(el);
    return () => {
      ro.disconnect();
      chart.destroy();
    };
  }, [times, series, format, bucket, scheme]);

  const total = series.map((s) => `${s.label} ${summaryOf(s, format)}`).join(", ");
  return (
    <figure class="chart">
      <figcaption>{props.title}</figcaption>
      <div ref={box} class="chart-box" role="img" aria-label={`${props.title} per ${bucket}: ${total} in this range`} />
      <details>
        <summary>Data table</summary>
        <div class="table-wrap">
          <table>
            <thead>
              <tr>
                <th scope="col">{bucket} (UTC)</th>
                {series.map((s) => (
                  <th scope="col" class="num">
                    {s.label}
                  </th>
                ))}
              </tr>
            </thead>
            <tbody>
              {times.map((t, i) =>
                series.some((s) => s.values[i] !== null && s.values[i] !== 0) ? (
                  <tr>
                    <td>{bucketLabel(t, bucket)}</td>
                    {series.map((s) => (
                      <td class="num">{s.values[i] === null ? "—" : format(s.values[i] ?? 0)}</td>
                    ))}
                  </tr>
                ) : null,
              )}
            </tbody>
          </table>
        </div>
      </details>
    </figure>
  );
}

/** A series over the whole range: its summary, else its total. */
const summaryOf = (s: Series, format: (n: number) => string) => s.summary ?? `${format(s.values.reduce<number>((a, b) => a + (b ?? 0), 0))} total`;
