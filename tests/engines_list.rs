//! `render engines`: every engine a folder can use, with its program (found or not), version,
//! GPU, declared licence and users — exact output on a folder with built-in, declared and
//! machine engines.

mod common;

use common::{write_program, Folder};

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
