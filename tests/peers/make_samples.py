"""Real files of every default allowed type, made with well-known libraries
(Pillow, pillow-heif, PyAV/FFmpeg, fpdf2, zipfile), for the sniffing tests.

    python make_samples.py OUTDIR   -> writes the files, prints {content_type: filename} as JSON
"""
import io
import json
import os
import sys
import zipfile
from fractions import Fraction


def image(fmt, **kw):
    from PIL import Image
    img = Image.new("RGB", (32, 24), (200, 40, 90))
    for x in range(32):
        img.putpixel((x, x % 24), (x * 8, 255 - x * 8, 30))
    buf = io.BytesIO()
    img.save(buf, fmt, **kw)
    return buf.getvalue()


def heic():
    import pillow_heif
    from PIL import Image
    pillow_heif.register_heif_opener()
    img = Image.new("RGB", (64, 64), (10, 120, 200))
    buf = io.BytesIO()
    img.save(buf, "HEIF")
    return buf.getvalue()


def video(container):
    import av
    from PIL import Image
    buf = io.BytesIO()
    with av.open(buf, "w", format=container) as out:
        s = out.add_stream("mpeg4", rate=10)
        s.width, s.height, s.pix_fmt = 64, 48, "yuv420p"
        for i in range(10):
            img = Image.new("RGB", (64, 48), (i * 20, 100, 200 - i * 10))
            for p in s.encode(av.VideoFrame.from_image(img)):
                out.mux(p)
        for p in s.encode():
            out.mux(p)
    return buf.getvalue()


def mp3():
    import math
    import struct
    import av
    buf = io.BytesIO()
    rate, n = 22050, 1152
    with av.open(buf, "w", format="mp3") as out:
        s = out.add_stream("libmp3lame", rate=rate)
        s.layout = "mono"
        for k in range(20):
            pcm = b"".join(struct.pack("<h", int(8000 * math.sin(2 * math.pi * 440 * (k * n + i) / rate)))
                           for i in range(n))
            frame = av.AudioFrame(format="s16", layout="mono", samples=n)
            frame.planes[0].update(pcm)
            frame.sample_rate = rate
            frame.pts = k * n
            frame.time_base = Fraction(1, rate)
            for p in s.encode(frame):
                out.mux(p)
        for p in s.encode():
            out.mux(p)
    return buf.getvalue()


def pdf():
    from fpdf import FPDF
    doc = FPDF()
    doc.add_page()
    doc.set_font("helvetica", size=14)
    doc.cell(text="oss-direct-upload sniffing sample")
    return bytes(doc.output())


def zip_file():
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("hello.txt", "hello from a zip\n")
    return buf.getvalue()


SAMPLES = {
    "image/jpeg": ("photo.jpg", lambda: image("JPEG", quality=80)),
    "image/png": ("photo.png", lambda: image("PNG")),
    "image/gif": ("anim.gif", lambda: image("GIF")),
    "image/webp": ("photo.webp", lambda: image("WEBP")),
    "image/heic": ("photo.heic", heic),
    "video/mp4": ("clip.mp4", lambda: video("mp4")),
    "video/quicktime": ("clip.mov", lambda: video("mov")),
    "audio/mpeg": ("tone.mp3", mp3),
    "application/pdf": ("doc.pdf", pdf),
    "application/zip": ("bundle.zip", zip_file),
    "application/octet-stream": ("blob.bin", lambda: os.urandom(3000)),
    "text/plain": ("notes.txt", lambda: "plain text, UTF-8: héllo wörld\n".encode() * 40),
}


def main(outdir):
    os.makedirs(outdir, exist_ok=True)
    made = {}
    for ctype, (name, make) in SAMPLES.items():
        path = os.path.join(outdir, name)
        with open(path, "wb") as f:
            f.write(make())
        made[ctype] = path
    print(json.dumps(made))


if __name__ == "__main__":
    main(sys.argv[1])
