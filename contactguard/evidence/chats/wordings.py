"""The wordings of chat exports' system lines and placeholders, per language (``LANGUAGES``).

Structure decides first (see the package docstring); these tables recognise, by wording, the
placeholders a sender left (so they still count), calls, group events and known notices, and
tell a file's language.
"""

from __future__ import annotations

import re

# LANGUAGES: the wordings below cover English, German, Spanish, French, Portuguese, Italian,
# Dutch, Polish, Turkish, Russian, Indonesian, Hindi and Czech. Structure decides first (a line
# without "Name: " is a system line; on iOS a body that starts with U+200E is one), wording
# second: the tables only recognise placeholders a sender left (so they still count), calls
# (a business call before the customer's first message is the business reaching out), group
# events (a group is not evidence) and known notices; and they tell a file's language.
LANGUAGES = (
    "English", "German", "Spanish", "French", "Portuguese", "Italian", "Dutch", "Polish",
    "Turkish", "Russian", "Indonesian", "Hindi", "Czech",
)



def _rx(pattern: str) -> re.Pattern[str]:
    """A case-insensitive pattern in which Devanagari letters with a nukta match both of
    their Unicode spellings (precomposed, as exports write them, and decomposed)."""
    for composed, decomposed in (("\u095c", "\u0921\u093c"), ("\u095d", "\u0922\u093c")):
        pattern = pattern.replace(decomposed, f"(?:{decomposed}|{composed})")
    return re.compile(pattern, re.IGNORECASE)


# The end-to-end encryption notice and the business notices. Anchored at the start of the
# text: a customer asking "are messages end-to-end encrypted?" is still a message.
E2E = _rx(
    r"(?:messages (?:and calls are end-to-end|(?:you send )?to this (?:group|chat))"
    r"|nachrichten (?:und anrufe sind ende-zu-ende|, die du)"
    r"|los mensajes (?:y las llamadas están cifrados|que envías|de este)"
    r"|les messages (?:et les appels sont chiffrés|envoyés)"
    r"|as mensagens (?:e as chamadas|e chamadas|enviadas|que você envia)"
    r"|i messaggi (?:e le chiamate|inviati)|le chiamate e i messaggi"
    r"|berichten en (?:oproepen|gesprekken) zijn end-to-end"
    r"|wiadomości i połączenia są"
    r"|mesajlar ve aramalar uçtan uca"
    r"|сообщения и звонки защищены"
    r"|pesan dan panggilan terenkripsi"
    r"|मैसेजेस और कॉल्स|मैसेज और कॉल"
    r"|zprávy a hovory jsou"
    r"|this business (?:uses|is now using) a secure service"
    r"|this chat is with (?:a|the official) business account)",
)
# Group events. "[^:]*" before the verb: the line has no "Name:" in front of the event, so a
# message "Bob: I added milk" is never taken for one.
GROUP_EVENT = _rx(
    r"[^:]*?(?:\bcreated (?:the |this )?group\b|\badded\b|\bwere added\b|\bremoved\b|\bleft$"
    r"|\bjoined using\b|\bchanged (?:the subject|the group|this group)|\bthis group\b"
    r"|\bGruppe|hinzugefügt|entfernt\.?$|beigetreten"
    r"|\bel grupo\b|\baño?adió\b|\bañadiste\b|\bte añadió\b|\beste grupo\b"
    r"|\ble groupe\b|\ba ajouté\b|\bavez ajouté\b|\bce groupe\b"
    r"|\bo grupo\b|\badicionou\b|\beste grupo\b"
    r"|\bil gruppo\b|\bha aggiunto\b|\bhai aggiunto\b|\bquesto gruppo\b"
    r"|\bgroep\b|toegevoegd|\bverwijderd\b|heeft de groep verlaten"
    r"|\bgrup[ęy]\b|\bdodał|\busunął|\bopuścił|\bdołączył"
    r"|\bgrubu?\b|\bekledi\b|\bçıkardı\b|\bayrıldı\b|\bkatıldı\b"
    r"|\bгрупп|\bдобавил|\bудалил|\bвышел|\bвышла|\bприсоединил"
    r"|\bgrup\b|\bmenambahkan\b|\bmengeluarkan\b|\bbergabung\b|\bkeluar\b"
    r"|ग्रुप|जोड़ा|हटाया"
    r"|\bskupin)",
)
# Other system events of one-to-one chats (blocks, security codes, number changes, timers,
# contact and business-account notices).
OTHER_EVENT = _rx(
    r"[^:]*?(?:\bchanged (?:their|the) phone number\b|\bsecurity code\b|\bblocked this contact\b"
    r"|\bunblocked this contact\b|\bdisappearing messages\b|\bis a contact\b"
    r"|\bbusiness account\b|\bthis business\b|\bstandard account\b|\bmissed (?:voice|video) call"
    r"|Sicherheitscode|Sicherheitsnummer|blockiert|Blockierung|Telefonnummer geändert"
    r"|selbstlöschende|Unternehmenskonto|Geschäftskonto|Verpasster (?:Sprach|Video)anruf"
    r"|código de seguridad|bloqueaste|desbloqueaste|cuenta (?:de empresa|comercial)"
    r"|mensajes temporales|llamada (?:de voz |de video )?perdida"
    r"|code de sécurité|avez bloqué|avez débloqué|compte (?:professionnel|business)"
    r"|messages éphémères|appel (?:vocal|vidéo) manqué"
    r"|código de segurança|bloqueou|desbloqueou|conta comercial|mensagens temporárias"
    r"|chamada de (?:voz|vídeo) perdida"
    r"|codice di sicurezza|hai bloccato|hai sbloccato|account business|messaggi effimeri"
    r"|chiamata (?:vocale|video) persa"
    r"|beveiligingscode|geblokkeerd|gedeblokkeerd|zakelijk account|zelf-wissende"
    r"|kod zabezpieczeń|zablokował|odblokował|konto firmowe|znikające wiadomości"
    r"|güvenlik kodu|engelledi|engelini kaldırdı|işletme hesab|süreli mesaj"
    r"|код безопасности|заблокировал|разблокировал|бизнес-аккаунт|исчезающие сообщения"
    r"|kode keamanan|memblokir|membuka blokir|akun bisnis|pesan sementara"
    r"|सुरक्षा कोड|ब्लॉक|बिज़नेस अकाउंट|गायब होने वाले मैसेज"
    r"|bezpečnostní kód|zablokoval|firemní účet)",
)
# Calls, as iOS writes them (marked) under the caller's name: a call is not a written message,
# but a business call before the customer's first message is the business reaching out.
CALL = _rx(
    r"(?:voice call|video call|sprachanruf|videoanruf|llamada de voz|videollamada"
    r"|appel vocal|appel vidéo|chamada de (?:voz|vídeo)|ligação de (?:voz|vídeo)"
    r"|chiamata vocale|videochiamata|spraakoproep|video-?oproep|videogesprek"
    r"|połączenie (?:głosowe|wideo)|rozmowa wideo|sesli arama|görüntülü arama"
    r"|аудиозвонок|видеозвонок|голосовой звонок|panggilan (?:suara|video)"
    r"|वॉइस कॉल|वीडियो कॉल|hlasový hovor|videohovor)",
)
# What a sender leaves behind for media, documents and contact cards when exporting without
# media: the sender did send something, so it counts for who wrote first.
_MEDIA_OMITTED = _rx(
    r"<(?:media omitted|medien ausgeschlossen|multimedia omitido|mídia oculta|médias omis"
    r"|media omessi|media weggelaten|pominięto multimedia|medya dahil edilmedi"
    r"|без медиафайлов|media tidak disertakan|मीडिया छोड़ दिया गया|média vynechány"
    r"|arquivo de mídia oculto)>"
    r"|.{0,200}?(?:\bomitted|weggelassen|omitid[oa]|\babsente?\b|manquante?|retirée?|\bomise?\b"
    r"|ocultad?[oa]|não revelad[oa]|omess[oa]|esclus[oa]|weggelaten|pominięt[oyae]"
    r"|dahil edilmedi|отсутствует|опущен|не добавлен[ао]?|tidak disertakan|छोड़ा गया"
    r"|छोड़ दिया गया|हटाई गई|हटाई गयी|हटाया गया|non inclus[oa]"
    r"|vynechán[oaýy]?)",
)
# The last words that can end a media placeholder: a cheap test before the pattern, which is
# tried only on the few messages that end so (every message of a chat passes here).
_OMITTED_ENDS = (
    "omitted", "weggelassen", "omitid", "absent", "manquant", "retiré", "omis", "ocult",
    "revelad", "omess", "esclus", "weggelaten", "pominięt", "edilmedi", "отсутствует", "опущен",
    "добавлен", "disertakan", "गया", "गई", "गयी", "vynechán", "inclus",
)


def omitted(body: str) -> bool:
    """Whether a message body is a placeholder of media the sender sent."""
    if body[:1] == "<":
        return _MEDIA_OMITTED.fullmatch(body) is not None
    last = body[body.rfind(" ") + 1 :].lower()
    return last.startswith(_OMITTED_ENDS) and _MEDIA_OMITTED.fullmatch(body) is not None


DELETED = _rx(
    r"(?:this message was deleted|you deleted this message|diese nachricht wurde gelöscht"
    r"|du hast diese nachricht gelöscht|se eliminó este mensaje|eliminaste este mensaje"
    r"|ce message a été supprimé|vous avez supprimé ce message|mensagem apagada"
    r"|apagou esta mensagem|essa mensagem foi apagada|questo messaggio è stato eliminato"
    r"|hai eliminato questo messaggio|dit bericht is verwijderd|je hebt dit bericht verwijderd"
    r"|ta wiadomość została usunięta|usunięto tę wiadomość|bu mesaj silindi"
    r"|данное сообщение удалено|вы удалили данное сообщение|сообщение удалено"
    r"|pesan ini telah dihapus|anda menghapus pesan ini|यह मैसेज डिलीट कर दिया गया"
    r"|आपने यह मैसेज डिलीट किया|यह मैसेज डिलीट कर दिया गया है|tato zpráva byla smazána"
    r"|smazali jste tuto zprávu|pesan ini dihapus|esta mensagem foi apagada"
    r"|waiting for this message)\.?",
)
# A shared location (any language): "Location: https://maps.google.com/?q=…".
LOCATION = re.compile(r"[^:]{1,40}: https?://\S+")
ATTACHED = _rx(
    r"<(?:attached|anhang|adjunto|pièce jointe|anexado|allegato|bijlage|załącznik|ek"
    r"|вложение|lampiran|संलग्न|příloha)\s*:.*>"
    r"|.*\((?:file attached|datei angehängt|archivo adjunto|fichier joint|arquivo anexado"
    r"|file allegato|bestand bijgevoegd|załączony plik|dosya ekli|файл прикреплен"
    r"|file terlampir|फ़ाइल संलग्न|soubor byl přiložen|файл добавлен)\)",
)
QUOTES = frozenset('"“”„«»')
_DASHES = "\u2010\u2011\u2012\u2013\u2014\u2015\u2212"
_PHONE_RUN = rf"\+[\d \u00a0\u202f().{_DASHES}-]{{6,}}\d"
# A sender shown as a number (any dash or space WhatsApp uses), or as "~ Name" with a number
# before or after it (a profile name shown beside an unsaved number).
PHONE_SENDER = re.compile(
    rf"(?:~\s*(?P<n1>[^~+]+?)\s*)?(?P<num>{_PHONE_RUN})(?:\s*~\s*(?P<n2>[^~]+))?"
)
