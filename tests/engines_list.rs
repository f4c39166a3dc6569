//! `render engines`: every engine a folder can use, with its program (found or not), version,
//! GPU, declared licence and users — exact output on a folder with built-in, declared and
//! machine engines.

mod common;

use common::{tone_wav, write_program, Folder};

#[test]
fn engines_lists_each_engine_with_its_program_licence_and_users() {
    let folder = Folder::with_portrait();
    std::fs::create_dir_all(folder.file("bin")).unwrap();
    write_program(&folder.file("bin/talker"), "#!/bin/sh\nexit 0\n");
    folder.write(
        "Renderfile.toml",
        "[render]\ndevice = \"cpu\"\n\n[defaults]\nfps = 10\nsize = [160, 90]\nvoice = \"bob\"\navatar = \"astronaut\"\n\n\
         [voices.bob]\nengine = \"espeak\"\n\n[voices.ada]\nengine = \"kokoro\"\n\n\
         [avatars.astronaut]\nimage = \"avatars/astronaut.png\"\nlipsync = \"talker\"\n\n\
         [avatars.plain]\nimage = \"avatars/astronaut.png\"\n\n\
         [engines.talker]\nstage = \"lipsync\"\nprogram = \"./bin/talker\"\nargs = [\"{out}\"]\ngpu = true\nvram = \"20G\"\n\
         version = \"talker 2.1\"\nlicence = \"CC BY-NC 4.0 (weights)\"\ncommercial = false\n\n\
         [engines.kokoro]\nstage = \"speech\"\nkind = \"openai-speech\"\nurl = \"http://127.0.0.1:8880\"\nmodel = \"kokoro\"\n\
         version = \"Kokoro-FastAPI 0.2.4\"\nlicence = \"Apache-2.0\"\n\n\
         [engines.unused]\nstage = \"speech\"\nprogram = \"no-such-tts-program\"\n",
    );
    folder.write(
        "projects/demo/project.toml",
        "[[scene]]\nname = \"intro\"\nlines = [\"Hello.\"]\n",
    );
    let machine = folder.file("machine/engines.toml");
    folder.write(
        "machine/engines.toml",
        "[engines.mine]\nstage = \"speech\"\nprogram = \"/bin/true\"\nversion = \"1\"\n",
    );
    let run = folder.render_with_env(
        &["engines"],
        &[("RENDER_ENGINES", machine.to_str().unwrap())],
        std::time::Duration::from_secs(60),
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let talker = folder.path().canonicalize().unwrap().join("bin/talker");
    let expected = format!(
        "espeak  speech  built in
  program  espeak-ng (found)
  gpu      no
  licence  GPL-3.0-or-later (espeak-ng, run as a separate program)
  used by  voices bob
  scenes   demo/intro

builtin  lipsync  built in
  program  render's own mouth (no program)
  gpu      no
  licence  render's
  used by  avatars plain

kokoro  speech  declared in Renderfile.toml
  program  POST http://127.0.0.1:8880/v1/audio/speech
  kind     openai-speech
  version  Kokoro-FastAPI 0.2.4
  gpu      no
  licence  Apache-2.0
  used by  voices ada

mine  speech  declared in {machine}
  program  /bin/true (found)
  version  1
  gpu      no
  licence  (not declared)
  used by  nothing

talker  lipsync  declared in Renderfile.toml
  program  {talker} (found)
  version  talker 2.1
  gpu      yes, 20 GiB of a card
  licence  CC BY-NC 4.0 (weights); NOT for commercial use
  used by  avatars astronaut
  scenes   demo/intro

unused  speech  declared in Renderfile.toml
  program  no-such-tts-program (NOT FOUND on this machine)
  version  (not declared)
  gpu      no
  licence  (not declared)
  used by  nothing

",
        machine = machine.display(),
        talker = talker.display(),
    );
    assert_eq!(run.stdout, expected);
}

/// A content folder whose voice `ada` speaks through `say`, a program that copies a tone
/// into `{out}`, declared with `engine_extra` (its licence lines).
fn folder_with_say(engine_extra: &str) -> Folder {
    let folder = Folder::with_portrait();
    std::fs::create_dir_all(folder.file("bin")).unwrap();
    std::fs::write(folder.file("bin/tone.wav"), tone_wav(22050, 1.0)).unwrap();
    write_program(
        &folder.file("bin/say"),
        "#!/bin/sh\nexec cp \"$(dirname \"$0\")/tone.wav\" \"$1\"\n",
    );
    folder.write(
        "Renderfile.toml",
        &format!(
            "[render]\ndevice = \"cpu\"\n\n[defaults]\nfps = 10\nsize = [160, 90]\nvoice = \"ada\"\navatar = \"astronaut\"\n\n\
             [voices.ada]\nengine = \"say\"\n\n[voices.bob]\nengine = \"espeak\"\n\n\
             [avatars.astronaut]\nimage = \"avatars/astronaut.png\"\n\n\
             [engines.say]\nstage = \"speech\"\nprogram = \"./bin/say\"\nargs = [\"{{out}}\"]\nversion = \"1\"\n{engine_extra}"
        ),
    );
    folder.write(
        "projects/demo/project.toml",
        "[[scene]]\nname = \"intro\"\nlines = [\"Hello.\"]\n",
    );
    folder
}

const NOTICE: &str = "NOT for commercial use: made with engine say (CC BY-NC 4.0 (weights)), which is declared `commercial = false`";

#[test]
fn a_build_with_an_engine_declared_not_commercial_says_so_once_in_its_summary_and_its_report() {
    let folder = folder_with_say("licence = \"CC BY-NC 4.0 (weights)\"\ncommercial = false\n");
    let run = folder.build();
    let line = format!("render: {NOTICE}\n");
    assert_eq!(run.stderr.matches(&line).count(), 1, "{}", run.stderr);
    assert_eq!(
        run.stderr.matches("commercial use").count(),
        1,
        "{}",
        run.stderr
    );
    let report = std::fs::read_to_string(folder.file("out/report.html")).unwrap();
    assert_eq!(
        report
            .matches(&format!("<p class=\"not-commercial\">{NOTICE}</p>\n"))
            .count(),
        1,
        "{report}"
    );
    // Nothing to make: the videos still come from that engine, and the build still says so.
    let again = folder.build();
    assert_eq!(again.made(), Vec::<String>::new());
    assert_eq!(again.stderr.matches(&line).count(), 1, "{}", again.stderr);

    // The same voice on espeak: the engine is declared but unused, so nothing is said.
    folder.edit("Renderfile.toml", "voice = \"ada\"", "voice = \"bob\"");
    let espeak = folder.build();
    assert!(!espeak.stderr.contains("commercial"), "{}", espeak.stderr);
    let report = std::fs::read_to_string(folder.file("out/report.html")).unwrap();
    assert!(!report.contains("not-commercial\">"), "{report}");
}

#[test]
fn a_build_with_engines_of_commercial_licences_says_nothing_of_them() {
    let folder = folder_with_say("licence = \"MIT\"\n");
    let run = folder.build();
    assert!(!run.stderr.contains("commercial"), "{}", run.stderr);
    let report = std::fs::read_to_string(folder.file("out/report.html")).unwrap();
    assert!(!report.contains("not-commercial\">"), "{report}");
}

#[test]
fn engines_lists_every_adapter_of_engines_as_its_engine_toml_declares_it() {
    let folder = Folder::with_portrait();
    let mut renderfile = String::from(
        "[render]\ndevice = \"cpu\"\n\n[defaults]\nfps = 25\nsize = [160, 90]\nvoice = \"joe\"\navatar = \"astronaut\"\n\n\
         [voices.joe]\nengine = \"piper\"\n\n[voices.af_bella]\nengine = \"kokoro\"\n\n\
         [voices.ada]\nengine = \"xtts\"\nsamples = [\"voices/ref.wav\"]\n\n\
         [voices.eve]\nengine = \"f5-tts\"\nsamples = [\"voices/ref.wav\"]\n\n\
         [voices.max]\nengine = \"chatterbox\"\nsamples = [\"voices/ref.wav\"]\n\n\
         [avatars.astronaut]\nimage = \"avatars/astronaut.png\"\nlipsync = \"wan-s2v\"\n\n",
    );
    let mut names = Vec::new();
    for entry in std::fs::read_dir(common::repo().join("engines")).unwrap() {
        let dir = entry.unwrap().path();
        if dir.is_dir() {
            names.push(dir.file_name().unwrap().to_str().unwrap().to_string());
        }
    }
    names.sort();
    // /opt/ moved into the folder, with stand-ins for the files each `hash` names.
    let opt = folder.file("opt");
    let opt = opt.to_str().unwrap();
    for name in &names {
        let toml = std::fs::read_to_string(
            common::repo()
                .join("engines")
                .join(name)
                .join("engine.toml"),
        )
        .unwrap()
        .replace("/opt/", &format!("{opt}/"));
        let table: toml::Table = toml.parse().unwrap();
        for engine in table["engines"].as_table().unwrap().values() {
            let program = engine.get("program").and_then(|p| p.as_str());
            if let Some(program) = program.filter(|p| p.starts_with(opt)) {
                let program = std::path::Path::new(program);
                std::fs::create_dir_all(program.parent().unwrap()).unwrap();
                write_program(program, "#!/bin/sh\nexit 0\n");
            }
            for file in engine
                .get("hash")
                .and_then(|h| h.as_array())
                .into_iter()
                .flatten()
            {
                folder.write(
                    file.as_str()
                        .unwrap()
                        .strip_prefix(&format!("{}/", folder.path().display()))
                        .unwrap(),
                    "stand-in\n",
                );
            }
        }
        renderfile.push_str(&toml);
        renderfile.push('\n');
        let lipsync = [
            "echomimic",
            "hallo2",
            "infinitetalk",
            "latentsync",
            "musetalk",
            "omniavatar",
            "sadtalker",
            "wav2lip",
        ];
        if lipsync.contains(&name.as_str()) {
            renderfile.push_str(&format!(
                "[avatars.{name}]\nimage = \"avatars/astronaut.png\"\nlipsync = \"{name}\"\n\n"
            ));
        }
    }
    folder.write("Renderfile.toml", &renderfile);
    std::fs::create_dir_all(folder.file("voices")).unwrap();
    std::fs::write(folder.file("voices/ref.wav"), tone_wav(24000, 8.0)).unwrap();
    folder.write(
        "projects/demo/project.toml",
        "[[scene]]\nname = \"intro\"\nlines = [\"Hello.\"]\n",
    );
    let none = folder.file("machine/engines.toml");
    folder.write("machine/engines.toml", "# none\n");
    let run = folder.render_with_env(
        &["engines"],
        &[("RENDER_ENGINES", none.to_str().unwrap())],
        std::time::Duration::from_secs(60),
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let espeak = std::process::Command::new("espeak-ng")
        .arg("--version")
        .output()
        .is_ok();
    let expected = EVERY_ADAPTER.replace(
        "espeak-ng (found)",
        if espeak {
            "espeak-ng (found)"
        } else {
            "espeak-ng (NOT FOUND on this machine)"
        },
    );
    assert_eq!(run.stdout.replace(opt, "/opt"), expected);
}

/// What `render engines` says of engines/ as it is (`/opt` as written; every program there).
const EVERY_ADAPTER: &str = r#"espeak  speech  built in
  program  espeak-ng (found)
  gpu      no
  licence  GPL-3.0-or-later (espeak-ng, run as a separate program)
  used by  nothing

builtin  lipsync  built in
  program  render's own mouth (no program)
  gpu      no
  licence  render's
  used by  nothing

chatterbox  speech  declared in Renderfile.toml
  program  /opt/chatterbox/venv/bin/python (found)
  version  chatterbox-tts 0.1.7 (5de7a54), ResembleAI/chatterbox
  gpu      yes, 8.0 GiB of a card
  licence  MIT (code and weights; outputs carry Resemble's Perth watermark)
  used by  voices max

diffusers-still  still  declared in Renderfile.toml
  program  /opt/diffusers/venv/bin/python (found)
  version  diffusers 0.42.1, stable-diffusion-xl-base-1.0
  gpu      yes, 12 GiB of a card
  licence  Apache-2.0 (diffusers); CreativeML Open RAIL++-M (SDXL base 1.0 weights)
  used by  nothing

diffusers-still-img2img  still  declared in Renderfile.toml
  program  /opt/diffusers/venv/bin/python (found)
  version  diffusers 0.42.1, stable-diffusion-xl-base-1.0
  gpu      yes, 12 GiB of a card
  licence  Apache-2.0 (diffusers); CreativeML Open RAIL++-M (SDXL base 1.0 weights)
  used by  nothing

echomimic  lipsync  declared in Renderfile.toml
  program  /opt/echomimic/venv/bin/python (found)
  version  echomimic_v3 7e89489, EchoMimicV3-Flash (flash-pro)
  gpu      yes, 12 GiB of a card
  licence  Apache-2.0 (code and EchoMimicV3 weights; Wan2.1-Fun base Apache-2.0)
  used by  avatars echomimic

f5-tts  speech  declared in Renderfile.toml
  program  /opt/f5-tts/venv/bin/f5-tts_infer-cli (found)
  version  f5-tts 1.1.20 (2ae2c9b), F5TTS_v1_Base 1250000
  gpu      yes, 6.0 GiB of a card
  licence  MIT (code), CC-BY-NC-4.0 (F5-TTS weights, trained on Emilia); NOT for commercial use
  used by  voices eve

hallo2  lipsync  declared in Renderfile.toml
  program  /opt/hallo2/venv/bin/python (found)
  version  hallo2 58a9aa6
  gpu      yes
  licence  MIT (code, weights), with SD 1.5 (OpenRAIL-M) and InsightFace models (non-commercial); NOT for commercial use
  used by  avatars hallo2

infinitetalk  lipsync  declared in Renderfile.toml
  program  /usr/bin/env (found)
  version  InfiniteTalk a1aa6e9, Wan2.1-I2V-14B-480P, InfiniteTalk single
  gpu      yes
  licence  (not declared)
  used by  avatars infinitetalk

kokoro  speech  declared in Renderfile.toml
  program  POST http://127.0.0.1:8880/v1/audio/speech
  kind     openai-speech
  version  Kokoro-FastAPI v0.2.4, Kokoro-82M v1.0
  gpu      no
  licence  Apache-2.0 (Kokoro-FastAPI, Kokoro-82M weights)
  used by  voices af_bella

latentsync  lipsync  declared in Renderfile.toml
  program  /usr/bin/env (found)
  version  LatentSync a229c39, checkpoint 1.6
  gpu      yes, 18 GiB of a card
  licence  Apache-2.0 (code), OpenRAIL++-M (LatentSync 1.6 weights), InsightFace buffalo_l: non-commercial research only; NOT for commercial use
  used by  avatars latentsync

musetalk  lipsync  declared in Renderfile.toml
  program  /opt/musetalk/venv/bin/python (found)
  version  MuseTalk 0a89dec, 1.5
  gpu      yes
  licence  MIT (code), any purpose (weights; HF tag CreativeML OpenRAIL-M)
  used by  avatars musetalk

omniavatar  lipsync  declared in Renderfile.toml
  program  /opt/omniavatar/venv/bin/torchrun (found)
  version  OmniAvatar 1536bf3, OmniAvatar-14B, Wan2.1-T2V-14B
  gpu      yes, 36 GiB of a card
  licence  Apache-2.0 (code, OmniAvatar-14B and Wan2.1 weights)
  used by  avatars omniavatar

piper  speech  declared in Renderfile.toml
  program  /opt/piper/venv/bin/python (found)
  version  piper-tts 1.8.0
  gpu      no
  licence  GPL-3.0-or-later (piper-tts, run as a separate program), CC0 (the joe voice's data)
  used by  voices joe
  scenes   demo/intro

piper-server  speech  declared in Renderfile.toml
  program  POST http://127.0.0.1:{port}/v1/audio/speech, on the server it starts: /opt/piper/venv/bin/python (found)
  kind     openai-speech
  version  piper-tts 1.8.0
  gpu      no
  licence  GPL-3.0-or-later (piper-tts, run as a separate program), CC0 (the joe voice's data)
  used by  nothing

sadtalker  lipsync  declared in Renderfile.toml
  program  /usr/bin/env (found)
  version  SadTalker cd4c046 (0.0.2)
  gpu      yes
  licence  Apache-2.0, with Wav2Lip-based audio networks (non-commercial) inside its weights; NOT for commercial use
  used by  avatars sadtalker

svd-xt  shot  declared in Renderfile.toml
  program  /opt/diffusers/venv/bin/python (found)
  version  diffusers 0.42.1, stable-video-diffusion-img2vid-xt
  gpu      yes, 16 GiB of a card
  licence  SVD-XT weights: stable-video-diffusion-nc-community (research, non-commercial), now the Stability AI Community License (commercial use needs its terms); diffusers Apache-2.0; NOT for commercial use
  used by  nothing

vace-pose  pose  declared in Renderfile.toml
  program  /usr/bin/env (found)
  version  VACE 48eb44f, VACE-Annotators pose (DWPose dw-ll_ucoco_384, YOLOX-L)
  gpu      yes, 4.0 GiB of a card
  licence  Apache-2.0 (VACE code); DWPose and YOLOX weights: Apache-2.0 (their projects)
  used by  nothing

wan-s2v  lipsync  declared in Renderfile.toml
  program  /opt/wan-s2v/venv/bin/python (found)
  version  Wan2.2 42bf4cf, Wan2.2-S2V-14B
  gpu      yes, 80 GiB of a card
  licence  Apache-2.0 (code and Wan2.2-S2V-14B weights)
  used by  avatars astronaut
  scenes   demo/intro

wan21-t2v-1-3b  shot  declared in Renderfile.toml
  program  /opt/wan2.1/venv/bin/python (found)
  version  Wan2.1 9737cba, Wan2.1-T2V-1.3B
  gpu      yes, 8.0 GiB of a card
  licence  Apache-2.0 (code and Wan2.1-T2V-1.3B weights)
  used by  nothing

wan21-vace-1-3b  shot  declared in Renderfile.toml
  program  /opt/wan-vace/venv/bin/python (found)
  version  Wan2.1 9737cba, Wan2.1-VACE-1.3B
  gpu      yes, 8.0 GiB of a card
  licence  Apache-2.0 (code and Wan2.1-VACE-1.3B weights)
  used by  nothing

wan22-i2v-a14b  shot  declared in Renderfile.toml
  program  /opt/wan2.2/venv/bin/python (found)
  version  Wan2.2 42bf4cf, Wan2.2-I2V-A14B
  gpu      yes, 80 GiB of a card
  licence  Apache-2.0 (code and Wan2.2-I2V-A14B weights)
  used by  nothing

wan22-ti2v-5b  shot  declared in Renderfile.toml
  program  /opt/wan2.2/venv/bin/python (found)
  version  Wan2.2 42bf4cf, Wan2.2-TI2V-5B
  gpu      yes, 24 GiB of a card
  licence  Apache-2.0 (code and Wan2.2-TI2V-5B weights)
  used by  nothing

wan22-ti2v-5b-image  shot  declared in Renderfile.toml
  program  /opt/wan2.2/venv/bin/python (found)
  version  Wan2.2 42bf4cf, Wan2.2-TI2V-5B
  gpu      yes, 24 GiB of a card
  licence  Apache-2.0 (code and Wan2.2-TI2V-5B weights)
  used by  nothing

wav2lip  lipsync  declared in Renderfile.toml
  program  /opt/wav2lip/venv/bin/python (found)
  version  Wav2Lip 5c90fa9
  gpu      yes
  licence  Wav2Lip: personal, research and non-commercial use only; NOT for commercial use
  used by  avatars wav2lip

xtts  speech  declared in Renderfile.toml
  program  /opt/xtts/venv/bin/tts (found)
  version  coqui-tts 0.28.0, XTTS-v2 2.0.3
  gpu      yes
  licence  MPL-2.0 (coqui-tts), Coqui Public Model License (XTTS-v2 weights); NOT for commercial use
  used by  voices ada

xtts-voice  voice  declared in Renderfile.toml
  program  /opt/xtts/venv/bin/tts (found)
  version  coqui-tts 0.28.0, XTTS-v2 2.0.3
  gpu      yes
  licence  MPL-2.0 (coqui-tts), Coqui Public Model License (XTTS-v2 weights); NOT for commercial use
  used by  engine xtts

"#;
