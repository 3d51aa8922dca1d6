/**
 * The documentation's links work in a fresh clone (docs/build.md): every relative
 * `](path)` in README.md and docs/*.md names a file or folder of the
 * repository, and a `#fragment` into a markdown file names one of its
 * headings. Links to http(s) are not followed.
 */
import { assertEquals } from "@std/assert";
import { dirname } from "@std/path/dirname";
import { join } from "@std/path/join";

const ROOT = new URL("..", import.meta.url).pathname;

/** README.md and every markdown file in docs/, relative to the repository. */
function documents(): string[] {
  const docs = [...Deno.readDirSync(join(ROOT, "docs"))]
    .filter((entry) => entry.isFile && entry.name.endsWith(".md"))
    .map((entry) => `docs/${entry.name}`)
    .sort();
  return ["README.md", ...docs];
}

/** GitHub's anchors for the headings of a markdown text (code blocks skipped; repeats get -1, -2). */
function anchors(text: string): Set<string> {
  const found = new Set<string>();
  const seen = new Map<string, number>();
  const outsideCode = text.replace(/^```[^\n]*\n[\s\S]*?^```/gm, "");
  for (const [, heading] of outsideCode.matchAll(/^#{1,6} (.+)$/gm)) {
    const slug = heading!.trim().toLowerCase().replace(/[^\p{L}\p{N}_\- ]/gu, "").replaceAll(
      " ",
      "-",
    );
    const count = seen.get(slug) ?? 0;
    seen.set(slug, count + 1);
    found.add(count === 0 ? slug : `${slug}-${count}`);
  }
  return found;
}

function exists(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return false;
    throw error;
  }
}

Deno.test("every relative link in README.md and docs/*.md resolves inside the repository", () => {
  const broken: string[] = [];
  for (const document of documents()) {
    const text = Deno.readTextFileSync(join(ROOT, document));
    for (const match of text.matchAll(/\]\(([^)\s]+)\)/g)) {
      const target = match[1]!;
      if (/^https?:/.test(target)) continue;
      const line = text.slice(0, match.index).split("\n").length;
      const [path, fragment] = target.split("#", 2) as [string, string | undefined];
      const file = path === "" ? join(ROOT, document) : join(ROOT, dirname(document), path);
      if (!exists(file)) {
        broken.push(`${document}:${line}: ${target} (no such file)`);
      } else if (fragment !== undefined && file.endsWith(".md")) {
        if (!anchors(Deno.readTextFileSync(file)).has(fragment)) {
          broken.push(`${document}:${line}: ${target} (no such heading)`);
        }
      }
    }
  }
  assertEquals(broken, []);
});
