; Inno Setup script for desk on Windows (Inno Setup 6). Build the bundle first, on Windows:
;   py -3.11 -m venv .venv && .venv\Scripts\pip install -e ".[test]"
;   .venv\Scripts\pyinstaller --noconfirm --distpath dist --workpath build packaging\desk.spec
;   iscc /DAppVersion=0.1.0 packaging\windows\desk.iss
; AppVersion must be desk.__version__ (docs/packaging.md shows how to pass it). Output: dist\desk-<version>-setup.exe.
; Sign dist\desk\desk.exe, deskw.exe and the setup with signtool before publishing (docs/packaging.md).

#ifndef AppVersion
  #error Pass the version: iscc /DAppVersion=X.Y.Z packaging\windows\desk.iss
#endif

#define AppName "desk"
#define AppId "io.github.desk.desk"
#define Root "..\.."

[Setup]
; AppId identifies the installation for upgrades and uninstall: never change it.
AppId={{6F1E7A52-3C4B-4D0E-9A57-2B8D1C6E4F31}
AppName={#AppName}
AppVersion={#AppVersion}
AppVerName={#AppName} {#AppVersion}
AppPublisher=desk developers
AppComments=Risk dashboard for crypto derivatives traders
DefaultDirName={autopf}\desk
DefaultGroupName=desk
DisableProgramGroupPage=yes
; Per-user install by default (no admin prompt); the user may choose all users.
PrivilegesRequired=lowest
PrivilegesRequiredOverridesAllowed=dialog
ArchitecturesAllowed=x64compatible
ArchitecturesInstallIn64BitMode=x64compatible
MinVersion=10.0.17763
OutputDir={#Root}\dist
OutputBaseFilename=desk-{#AppVersion}-setup
SetupIconFile={#Root}\resources\icons\desk.ico
UninstallDisplayIcon={app}\deskw.exe
Compression=lzma2/max
SolidCompression=yes
WizardStyle=modern
; desk may be running in the tray during an upgrade: ask to close it.
CloseApplications=yes
RestartApplications=no

[Languages]
Name: "english"; MessagesFile: "compiler:Default.isl"

[Tasks]
Name: "desktopicon"; Description: "{cm:CreateDesktopIcon}"; GroupDescription: "{cm:AdditionalIcons}"; Flags: unchecked
Name: "autostart"; Description: "Start desk when I sign in"; GroupDescription: "Startup:"; Flags: unchecked

[Files]
Source: "{#Root}\dist\desk\*"; DestDir: "{app}"; Flags: ignoreversion recursesubdirs createallsubdirs

[Icons]
Name: "{autoprograms}\desk"; Filename: "{app}\deskw.exe"; IconFilename: "{app}\_internal\resources\icons\desk.ico"; AppUserModelID: "{#AppId}"
Name: "{autodesktop}\desk"; Filename: "{app}\deskw.exe"; IconFilename: "{app}\_internal\resources\icons\desk.ico"; Tasks: desktopicon
Name: "{userstartup}\desk"; Filename: "{app}\deskw.exe"; IconFilename: "{app}\_internal\resources\icons\desk.ico"; Tasks: autostart

[Run]
Filename: "{app}\deskw.exe"; Description: "{cm:LaunchProgram,desk}"; Flags: nowait postinstall skipifsilent

[UninstallDelete]
; Only what the installer put there. The user's settings, history and logs (platformdirs) and the
; API keys in Windows Credential Manager stay, so a reinstall keeps them; docs/packaging.md says
; how to remove them.
Type: filesandordirs; Name: "{app}\_internal"
